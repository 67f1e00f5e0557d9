// CPUID detection, computed once (see cpu_features.h).
#include "cpu_features.h"
#if defined(__x86_64__)
#include <cpuid.h>

static int detect(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    int ssse3 = (c >> 9) & 1, sse41 = (c >> 19) & 1, sse42 = (c >> 20) & 1;
    unsigned b7 = 0;
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) b7 = b;
    // The SHA extensions and crc32 work on XMM / general registers, which every x86-64 OS saves.
    int xmm = (((b7 >> 29) & 1) && ssse3 && sse41 ? CAPG_CPU_SHA : 0) | (sse42 ? CAPG_CPU_SSE42 : 0);
    if (!(osxsave && avx)) return xmm;
    // The OS saves XMM and YMM state (XCR0 bits 1 and 2).
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 6) != 6) return xmm;
    int avx2 = (b7 >> 5) & 1;
    return xmm | (avx2 ? CAPG_CPU_AVX2 : 0) | (fma ? CAPG_CPU_FMA : 0);
}

// 0 unknown; otherwise the feature bits | 1 << 30 (so a CPU without any is not "unknown").
static int cached = 0;

int capg_cpu_features(void) {
    int v = __atomic_load_n(&cached, __ATOMIC_RELAXED);
    if (v == 0) {
        v = detect() | (1 << 30);
        __atomic_store_n(&cached, v, __ATOMIC_RELAXED);
    }
    return v & ~(1 << 30);
}
#else
int capg_cpu_features(void) { return 0; }
#endif
