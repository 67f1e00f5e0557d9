// Reductions of the step's flat arrays (see include/capg_reduce.h).
#include "capg_reduce.h"
#include "cpu_features.h"
#include <math.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#pragma clang fp contract(off)

static double combine8(const double l[8]) {
    return ((l[0] + l[1]) + (l[2] + l[3])) + ((l[4] + l[5]) + (l[6] + l[7]));
}

double capg_sum_squares_f32_generic(const float *x, size_t n) {
    double l[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    for (size_t i = 0; i < n; i++) {
        double v = (double)x[i];
        l[i & 7] += v * v;
    }
    return combine8(l);
}

// The maximum loop for a double or a float row (a float is compared as the double it
// widens to, exactly), so both element types share it.
#define CAPG_MAX_GENERIC                                                        \
    double m = -INFINITY;                                                       \
    for (size_t i = 0; i < n; i++) m = (double)x[i] > m ? (double)x[i] : m;     \
    return m;

double capg_max_f64_generic(const double *x, size_t n) { CAPG_MAX_GENERIC }
double capg_max_f32_generic(const float *x, size_t n) { CAPG_MAX_GENERIC }

#if defined(__x86_64__)
__attribute__((target("avx2")))
static double sum_squares_avx2(const float *x, size_t n) {
    __m256d a = _mm256_setzero_pd(), b = _mm256_setzero_pd();  // lanes 0–3, 4–7
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256d lo = _mm256_cvtps_pd(_mm_loadu_ps(x + i)), hi = _mm256_cvtps_pd(_mm_loadu_ps(x + i + 4));
        a = _mm256_add_pd(a, _mm256_mul_pd(lo, lo));
        b = _mm256_add_pd(b, _mm256_mul_pd(hi, hi));
    }
    double l[8];
    _mm256_storeu_pd(l, a);
    _mm256_storeu_pd(l + 4, b);
    for (; i < n; i++) {
        double v = (double)x[i];
        l[i & 7] += v * v;
    }
    return combine8(l);
}

// LOAD4(p): four items from p as doubles (a float row is widened in registers, so both
// element types run the same lanes in the same order: bitwise the same maximum, zero sign
// included).
#define CAPG_MAX_AVX2(LOAD4)                                                    \
    __m256d m = _mm256_set1_pd(-INFINITY);                                      \
    size_t i = 0;                                                               \
    /* max_pd(v, m) returns m when v is NaN: NaNs are skipped as by the scalar loop. */ \
    for (; i + 4 <= n; i += 4) m = _mm256_max_pd(LOAD4(x + i), m);              \
    double l[4];                                                                \
    _mm256_storeu_pd(l, m);                                                     \
    double r = -INFINITY;                                                       \
    for (int j = 0; j < 4; j++) r = l[j] > r ? l[j] : r;                        \
    for (; i < n; i++) r = (double)x[i] > r ? (double)x[i] : r;                 \
    return r;
#define LOAD4_F64(p) _mm256_loadu_pd(p)
#define LOAD4_F32(p) _mm256_cvtps_pd(_mm_loadu_ps(p))

__attribute__((target("avx2")))
static double max_avx2(const double *x, size_t n) { CAPG_MAX_AVX2(LOAD4_F64) }

__attribute__((target("avx2")))
static double max_f32_avx2(const float *x, size_t n) { CAPG_MAX_AVX2(LOAD4_F32) }
#endif

double capg_sum_squares_f32(const float *x, size_t n) {
#if defined(__x86_64__)
    if (capg_cpu_features() & CAPG_CPU_AVX2) return sum_squares_avx2(x, n);
#endif
    return capg_sum_squares_f32_generic(x, n);
}

double capg_max_f64(const double *x, size_t n) {
#if defined(__x86_64__)
    if (capg_cpu_features() & CAPG_CPU_AVX2) return max_avx2(x, n);
#endif
    return capg_max_f64_generic(x, n);
}

double capg_max_f32(const float *x, size_t n) {
#if defined(__x86_64__)
    if (capg_cpu_features() & CAPG_CPU_AVX2) return max_f32_avx2(x, n);
#endif
    return capg_max_f32_generic(x, n);
}
