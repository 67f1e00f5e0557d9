// Float↔Double row conversions of the estimator (see include/capg_rowconvert.h). Swift's
// loops for these stayed scalar: a float max/min select chain needs no-NaN flags to
// vectorize, and the Float/Double row pointers may alias.
#include "capg_rowconvert.h"
#include "cpu_features.h"
#include "nonfinite.h"
#include <stdint.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

// The widening loop with or without its stores (WIDEN_STORE / WIDEN_STORE8 or nothing):
// `capg_minmax_f32` is the same pass minus the Double row, so the two give the same range
// (NaN behaviour included) by construction.
#define WIDEN_STORE(i, v) (out[i] = (double)(v))
#define NO_STORE(i, v) ((void)0)
#define CAPG_WIDEN_GENERIC(STORE)                         \
    float t = -__builtin_inff(), b = __builtin_inff();    \
    for (size_t i = 0; i < n; i++) {                      \
        float v = x[i];                                   \
        STORE(i, v);                                      \
        t = v > t ? v : t;                                \
        b = v < b ? v : b;                                \
    }                                                     \
    *top = t;                                             \
    *bottom = b;

static void widen_generic(const float *restrict x, double *restrict out, size_t n, float *top, float *bottom) {
    CAPG_WIDEN_GENERIC(WIDEN_STORE)
}

static void minmax_generic(const float *restrict x, size_t n, float *top, float *bottom) {
    CAPG_WIDEN_GENERIC(NO_STORE)
}

#if defined(__x86_64__)
// MAXPS(v, t) is exactly `v > t ? v : t` per lane (MINPS likewise), and the lane
// accumulators never hold a NaN, so combining them gives the sequential result.
#define WIDEN_STORE8(i, v)                                                      \
    do {                                                                        \
        _mm256_storeu_pd(out + (i), _mm256_cvtps_pd(_mm256_castps256_ps128(v))); \
        _mm256_storeu_pd(out + (i) + 4, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1))); \
    } while (0)
#define CAPG_WIDEN_AVX2(STORE8, STORE)                                     \
    __m256 t = _mm256_set1_ps(-__builtin_inff()), b = _mm256_set1_ps(__builtin_inff()); \
    size_t i = 0;                                                          \
    for (; i + 8 <= n; i += 8) {                                           \
        __m256 v = _mm256_loadu_ps(x + i);                                 \
        t = _mm256_max_ps(v, t);                                           \
        b = _mm256_min_ps(v, b);                                           \
        STORE8(i, v);                                                      \
    }                                                                      \
    float tl[8], bl[8];                                                    \
    _mm256_storeu_ps(tl, t);                                               \
    _mm256_storeu_ps(bl, b);                                               \
    float tt = tl[0], bb = bl[0];                                          \
    for (int j = 1; j < 8; j++) {                                          \
        tt = tl[j] > tt ? tl[j] : tt;                                      \
        bb = bl[j] < bb ? bl[j] : bb;                                      \
    }                                                                      \
    for (; i < n; i++) {                                                   \
        float v = x[i];                                                    \
        STORE(i, v);                                                       \
        tt = v > tt ? v : tt;                                              \
        bb = v < bb ? v : bb;                                              \
    }                                                                      \
    *top = tt;                                                             \
    *bottom = bb;

__attribute__((target("avx2,fma")))
static void widen_avx2(const float *restrict x, double *restrict out, size_t n, float *top, float *bottom) {
    CAPG_WIDEN_AVX2(WIDEN_STORE8, WIDEN_STORE)
}

__attribute__((target("avx2,fma")))
static void minmax_avx2(const float *restrict x, size_t n, float *top, float *bottom) {
    CAPG_WIDEN_AVX2(NO_STORE, NO_STORE)
}
#endif

void capg_widen_minmax(const float *x, double *out, size_t n, float *top, float *bottom) {
#if defined(__x86_64__)
    if ((capg_cpu_features() & CAPG_CPU_AVX2)) { widen_avx2(x, out, n, top, bottom); return; }
#endif
    widen_generic(x, out, n, top, bottom);
}

void capg_minmax_f32(const float *x, size_t n, float *top, float *bottom) {
#if defined(__x86_64__)
    if ((capg_cpu_features() & CAPG_CPU_AVX2)) { minmax_avx2(x, n, top, bottom); return; }
#endif
    minmax_generic(x, n, top, bottom);
}

void capg_minmax_f32_generic(const float *x, size_t n, float *top, float *bottom) { minmax_generic(x, n, top, bottom); }

// `STORE(i, v)` writes the narrowed value: `y[i] += v`, or `y[i] = v + 0.0f` (what adding
// to a zeroed row gives, −0 included: 0 + (−0) = +0), so both variants share one loop.
#define CAPG_NARROW_LOOP(STORE)                           \
    uint32_t worst = 0;                                   \
    for (size_t i = 0; i < n; i++) {                      \
        float v = (float)g[i];                            \
        g[i] = 0;                                         \
        STORE(i, v);                                      \
        worst = capg_worst_exponent(worst, v);            \
    }                                                     \
    return capg_exponent_nonfinite(worst);
#define CAPG_ADD(i, v) (y[i] += (v))
#define CAPG_SET(i, v) (y[i] = (v) + 0.0f)

#if defined(__x86_64__)
__attribute__((target("avx2,fma")))
static int narrow_avx2(double *restrict g, float *restrict y, size_t n) { CAPG_NARROW_LOOP(CAPG_ADD) }
__attribute__((target("avx2,fma")))
static int narrow_set_avx2(double *restrict g, float *restrict y, size_t n) { CAPG_NARROW_LOOP(CAPG_SET) }
#endif

static int narrow_generic(double *restrict g, float *restrict y, size_t n) { CAPG_NARROW_LOOP(CAPG_ADD) }
static int narrow_set_generic(double *restrict g, float *restrict y, size_t n) { CAPG_NARROW_LOOP(CAPG_SET) }

int capg_narrow_add_clear(double *g, float *y, size_t n) {
#if defined(__x86_64__)
    if ((capg_cpu_features() & CAPG_CPU_AVX2)) return narrow_avx2(g, y, n);
#endif
    return narrow_generic(g, y, n);
}

int capg_narrow_set_clear(double *g, float *y, size_t n) {
#if defined(__x86_64__)
    if ((capg_cpu_features() & CAPG_CPU_AVX2)) return narrow_set_avx2(g, y, n);
#endif
    return narrow_set_generic(g, y, n);
}

int capg_narrow_set_clear_generic(double *g, float *y, size_t n) { return narrow_set_generic(g, y, n); }

// y = (float)(0 − c·w) + 0: the V-PG row `g_j −= c·w_j` of a zeroed Double row narrowed
// with `capg_narrow_set_clear`, without the Double row. (A contracted 0 − c·w rounds −(c·w)
// once, which is −round(c·w): the same value.)
#define CAPG_NEGSCALE_SET_LOOP                            \
    uint32_t worst = 0;                                   \
    for (size_t i = 0; i < n; i++) {                      \
        double v = 0.0 - c * w[i];                        \
        float f = (float)v;                               \
        y[i] = f + 0.0f;                                  \
        worst = capg_worst_exponent(worst, f);            \
    }                                                     \
    return capg_exponent_nonfinite(worst);

#if defined(__x86_64__)
__attribute__((target("avx2,fma")))
static int negscale_set_avx2(const double *restrict w, double c, float *restrict y, size_t n) { CAPG_NEGSCALE_SET_LOOP }
#endif

static int negscale_set_generic(const double *restrict w, double c, float *restrict y, size_t n) { CAPG_NEGSCALE_SET_LOOP }

int capg_negscale_narrow_set(const double *w, double c, float *y, size_t n) {
#if defined(__x86_64__)
    if ((capg_cpu_features() & CAPG_CPU_AVX2)) return negscale_set_avx2(w, c, y, n);
#endif
    return negscale_set_generic(w, c, y, n);
}

int capg_negscale_narrow_set_generic(const double *w, double c, float *y, size_t n) {
    return negscale_set_generic(w, c, y, n);
}
