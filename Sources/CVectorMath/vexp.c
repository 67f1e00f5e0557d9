// A vectorizable exp for the O(N) passes of the estimators (see include/capg_vexp.h).
#include "capg_vexp.h"
#include "cpu_features.h"
#include <stdint.h>
#include <string.h>

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
// is deterministic; a single running sum would forbid vectorizing the reduction). x may
// be float or double: `x[i] + shift` promotes a float exactly, so the float variants
// compute bitwise what the double ones compute on the widened row.
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

__attribute__((target("avx2,fma")))
static double exp_shifted_f32_avx2(const float *restrict x, double shift, double *restrict out, size_t n) {
    CAPG_EXP_LOOP
}

#endif

static double exp_shifted_generic(const double *restrict x, double shift, double *restrict out, size_t n) {
    CAPG_EXP_LOOP
}

static double exp_shifted_f32_generic(const float *restrict x, double shift, double *restrict out, size_t n) {
    CAPG_EXP_LOOP
}

#if defined(__x86_64__)
// 2 when the CPU has AVX2 and FMA, else 1 (CPUID is read once per process: cpu_features.h).
static int variant(void) {
    const int both = CAPG_CPU_AVX2 | CAPG_CPU_FMA;
    return (capg_cpu_features() & both) == both ? 2 : 1;
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

double capg_exp_shifted_f32(const float *x, double shift, double *out, size_t n) {
#if defined(__x86_64__)
    if (variant() == 2) return exp_shifted_f32_avx2(x, shift, out, n);
#endif
    return exp_shifted_f32_generic(x, shift, out, n);
}

double capg_exp_shifted_f32_generic(const float *x, double shift, double *out, size_t n) {
    return exp_shifted_f32_generic(x, shift, out, n);
}

double capg_exp_shifted_generic(const double *x, double shift, double *out, size_t n) {
    return exp_shifted_generic(x, shift, out, n);
}
