// CPUID detection, computed once (see cpu_features.h).
#include "cpu_features.h"
#if defined(__x86_64__)
#include <cpuid.h>

static int detect(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    if (!(osxsave && avx)) return 0;
    // The OS saves XMM and YMM state (XCR0 bits 1 and 2).
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 6) != 6) return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    int avx2 = (b >> 5) & 1;
    return (avx2 ? CAPG_CPU_AVX2 : 0) | (fma ? CAPG_CPU_FMA : 0);
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
