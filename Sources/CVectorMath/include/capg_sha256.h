#ifndef CAPG_SHA256_H
#define CAPG_SHA256_H
#include <stddef.h>
#include <stdint.h>

/// The SHA-256 compression function (FIPS 180-4 §6.2.2) applied to `blocks` consecutive
/// 64-byte blocks of `data`, updating the eight state words `state` in place (the caller
/// pads and finishes). Uses the x86 SHA extensions when the CPU has them (SHA-NI with
/// SSSE3/SSE4.1), else portable C; both give the same state (the function is exact).
/// Cost: O(blocks); ~1.5–2 GB/s with SHA-NI, ~0.3–0.5 GB/s portable.
void capg_sha256_blocks(uint32_t state[8], const uint8_t *data, size_t blocks);

/// The portable variant (for tests).
void capg_sha256_blocks_generic(uint32_t state[8], const uint8_t *data, size_t blocks);

/// 1 when `capg_sha256_blocks` uses the SHA extensions on this CPU, else 0.
int capg_sha256_uses_shani(void);

#endif
