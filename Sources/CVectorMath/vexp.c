// A vectorizable exp for the O(N) passes of the estimators (see include/capg_vexp.h).
#include "capg_vexp.h"
#include <stdint.h>
#include <string.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif

static const double ln2_hi = 6.93147180369123816490e-01;
static const double ln2_lo = 1.90821492927058770002e-10;
static const double inv_ln2 = 1.44269504088896338700e+00;
static const double shifter = 6755399441055744.0; // 1.5 · 2^52: adding it rounds to an integer
static const double y_max = 709.782712893383973096;
static const double y_min = -708.39641853226410622; // e^y_min is the smallest normal double

// One element; every operation is branch-free so the compiler vectorizes the caller's loop.
static inline __attribute__((always_inline)) double exp_core(double y) {
    double yc = y < y_min ? y_min : (y > y_max ? y_max : y);
    double shifted = yc * inv_ln2 + shifter;
    double k = shifted - shifter;
    double r = (yc - k * ln2_hi) - k * ln2_lo;
    double p = 1.0 / 6227020800.0;
    p = p * r + 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    // k ∈ [−1022, 1024]: the low bits of `shifted` hold k; 2^k = bits (k + 1023) << 52, and
    // k = 1024 (only for y ≈ y_max) is split as 2 · 2^1023.
    int64_t bits;
    memcpy(&bits, &shifted, sizeof bits);
    int64_t ki = bits - (int64_t)0x4338000000000000LL;
    int64_t top = ki > 1023 ? 1 : 0;
    uint64_t ebits = (uint64_t)(ki - top + 1023) << 52;
    double scale;
    memcpy(&scale, &ebits, sizeof scale);
    double v = p * scale * (top ? 2.0 : 1.0);
    v = y > y_max ? __builtin_inf() : v;
    v = y < y_min ? 0.0 : v;
    return y != y ? y : v;
}

// The exps, then the sum in eight interleaved partial sums (a fixed order, so the result
// is deterministic; a single running sum would forbid vectorizing the reduction).
#define CAPG_EXP_LOOP                                         \
    for (size_t i = 0; i < n; i++) out[i] = exp_core(x[i] + shift); \
    double acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};                 \
    size_t i = 0;                                             \
    for (; i + 8 <= n; i += 8)                                \
        for (int j = 0; j < 8; j++) acc[j] += out[i + j];     \
    double sum = 0.0;                                         \
    for (; i < n; i++) sum += out[i];                         \
    for (int j = 0; j < 8; j++) sum += acc[j];                \
    return sum;

#if defined(__x86_64__)
__attribute__((target("avx2,fma")))
static double exp_shifted_avx2(const double *restrict x, double shift, double *restrict out, size_t n) {
    CAPG_EXP_LOOP
}

// AVX2 and FMA in CPUID, and the OS saves YMM state (XCR0 bits 1 and 2).
static int cpu_has_avx2_fma(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1;
    if (!(fma && osxsave && avx)) return 0;
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    if ((lo & 6) != 6) return 0;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    return (b >> 5) & 1;
}
#endif

static double exp_shifted_generic(const double *restrict x, double shift, double *restrict out, size_t n) {
    CAPG_EXP_LOOP
}

#if defined(__x86_64__)
// The CPUID answer, computed once: 0 unknown, 1 generic, 2 AVX2+FMA. CPUID traps to the
// hypervisor in a VM (~10 µs measured here), which cost 11 µs per call — a third of the
// whole step at N = 1000 — when it ran on every call. Racing threads compute and store the
// same value, so relaxed atomics suffice; the variant never changes within a process,
// so bulk and scalar results still agree bitwise.
static int cached_variant = 0;

static int variant(void) {
    int v = __atomic_load_n(&cached_variant, __ATOMIC_RELAXED);
    if (v == 0) {
        v = cpu_has_avx2_fma() ? 2 : 1;
        __atomic_store_n(&cached_variant, v, __ATOMIC_RELAXED);
    }
    return v;
}
#endif

int capg_vexp_uses_avx2(void) {
#if defined(__x86_64__)
    return variant() == 2;
#else
    return 0;
#endif
}

double capg_exp_shifted(const double *x, double shift, double *out, size_t n) {
#if defined(__x86_64__)
    if (variant() == 2) return exp_shifted_avx2(x, shift, out, n);
#endif
    return exp_shifted_generic(x, shift, out, n);
}
