// CRC-32C with SSE4.2's crc32 instruction (see include/capg_crc32c.h).
#include "capg_crc32c.h"
#include "cpu_features.h"
#include <string.h>
#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

int capg_crc32c_available(void) {
#if defined(__x86_64__)
    return (capg_cpu_features() & CAPG_CPU_SSE42) != 0;
#else
    return 0;
#endif
}

#if defined(__x86_64__)
__attribute__((target("sse4.2")))
uint32_t capg_crc32c_update(uint32_t state, const uint8_t *p, size_t n) {
    uint64_t c = state;
    // Bytes until 8-aligned, then 8 at a time, then the tail.
    while (n > 0 && ((uintptr_t)p & 7) != 0) { c = _mm_crc32_u8((uint32_t)c, *p++); n--; }
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = _mm_crc32_u64(c, w);
        p += 8; n -= 8;
    }
    while (n > 0) { c = _mm_crc32_u8((uint32_t)c, *p++); n--; }
    return (uint32_t)c;
}
#else
uint32_t capg_crc32c_update(uint32_t state, const uint8_t *p, size_t n) { (void)p; (void)n; return state; }
#endif
