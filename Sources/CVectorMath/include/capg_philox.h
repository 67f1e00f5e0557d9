#ifndef CAPG_PHILOX_H
#define CAPG_PHILOX_H
#include <stddef.h>
#include <stdint.h>

/// Philox-4x32-10 (Salmon et al., SC'11; Random123's constants and round order) for the
/// `blocks` consecutive counters (firstBlock + b mod 2^32, c1, c2, c3), b < blocks, under
/// the key (k0, k1). Block b's four output words go to out[4b … 4b+3] (block-major, the
/// order a sequential stream reads them). `out` needs no particular alignment.
///
/// AVX2 variant (chosen once per process by CPUID): 16 blocks per iteration as two
/// interleaved groups of 8 in structure-of-arrays registers (one counter word per vector),
/// `vpmuludq` on the even and odd lanes for the high words of the 32×32→64 products and
/// `vpmulld` for the low words, then a 4×8 transpose
/// by unpack/permute and four 256-bit stores; the last < 16 blocks by the generic code.
/// Generic variant: the same rounds on 8-lane arrays (auto-vectorized where the ISA allows).
/// Both give bitwise the same words.
void capg_philox4x32_fill(uint32_t *out, size_t blocks, uint32_t firstBlock,
                          uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0, uint32_t k1);

/// The generic variant of `capg_philox4x32_fill` on every CPU (for tests and comparison).
void capg_philox4x32_fill_generic(uint32_t *out, size_t blocks, uint32_t firstBlock,
                                  uint32_t c1, uint32_t c2, uint32_t c3, uint32_t k0, uint32_t k1);

/// Non-zero when `capg_philox4x32_fill` uses the AVX2 variant on this CPU.
int capg_philox_uses_avx2(void);

#endif
