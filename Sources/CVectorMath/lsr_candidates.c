// The bound-only candidate test of the LSR top-K (see include/capg_lsr_candidates.h).
#include "capg_lsr_candidates.h"
#include "cpu_features.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif

// No implicit fused multiply-adds: both variants of the test must round identically (same
// candidate lists). (The dot product of the AVX2 variant fuses explicitly.)
#pragma clang fp contract(off)

size_t capg_lsr_candidates_generic(const float *z, const double *offset, const double *spread, size_t n,
                                   double sign, double xn, double cut, int32_t *out) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++) {
        double b = sign * (double)z[i] + offset[i] + spread[i] * xn;
        // Branch-free append: the slot is overwritten unless the item passes.
        out[c] = (int32_t)i;
        c += b >= cut;
    }
    return c;
}

#if defined(__x86_64__)
__attribute__((target("avx2")))
static size_t candidates_avx2(const float *z, const double *offset, const double *spread, size_t n, double sign,
                              double xn, double cut, int32_t *out) {
    size_t c = 0, i = 0;
    const __m256d sv = _mm256_set1_pd(sign), xv = _mm256_set1_pd(xn), cv = _mm256_set1_pd(cut);
    for (; i + 8 <= n; i += 8) {
        __m256 zf = _mm256_loadu_ps(z + i);
        __m256d z0 = _mm256_cvtps_pd(_mm256_castps256_ps128(zf));
        __m256d z1 = _mm256_cvtps_pd(_mm256_extractf128_ps(zf, 1));
        __m256d b0 = _mm256_add_pd(_mm256_add_pd(_mm256_mul_pd(sv, z0), _mm256_loadu_pd(offset + i)),
                                   _mm256_mul_pd(_mm256_loadu_pd(spread + i), xv));
        __m256d b1 = _mm256_add_pd(_mm256_add_pd(_mm256_mul_pd(sv, z1), _mm256_loadu_pd(offset + i + 4)),
                                   _mm256_mul_pd(_mm256_loadu_pd(spread + i + 4), xv));
        unsigned m = (unsigned)_mm256_movemask_pd(_mm256_cmp_pd(b0, cv, _CMP_GE_OQ))
                   | (unsigned)_mm256_movemask_pd(_mm256_cmp_pd(b1, cv, _CMP_GE_OQ)) << 4;
        while (m) {
            out[c++] = (int32_t)(i + (size_t)__builtin_ctz(m));
            m &= m - 1;
        }
    }
    for (; i < n; i++) {
        double b = sign * (double)z[i] + offset[i] + spread[i] * xn;
        out[c] = (int32_t)i;
        c += b >= cut;
    }
    return c;
}
#endif

size_t capg_lsr_candidates(const float *z, const double *offset, const double *spread, size_t n, double sign,
                           double xn, double cut, int32_t *out) {
#if defined(__x86_64__)
    if ((capg_cpu_features() & CAPG_CPU_AVX2)) return candidates_avx2(z, offset, spread, n, sign, xn, cut, out);
#endif
    return capg_lsr_candidates_generic(z, offset, spread, n, sign, xn, cut, out);
}

size_t capg_lsr_candidates_dot_generic(const float *vt, size_t ld, size_t dx, const float *x, const double *offset,
                                       const double *spread, size_t n, double sign, double xn, double cut, float *z,
                                       int32_t *out) {
    for (size_t i = 0; i < n; i++) z[i] = 0.0f;
    for (size_t j = 0; j < dx; j++) {
        const float *row = vt + j * ld;
        float xj = x[j];
        for (size_t i = 0; i < n; i++) z[i] = z[i] + xj * row[i];
    }
    return capg_lsr_candidates_generic(z, offset, spread, n, sign, xn, cut, out);
}

#if defined(__x86_64__)
__attribute__((target("avx2,fma")))
static void dot_avx2(const float *vt, size_t ld, size_t dx, const float *x, size_t n, float *z) {
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256 a = _mm256_setzero_ps(), b = _mm256_setzero_ps();
        for (size_t j = 0; j < dx; j++) {
            __m256 xj = _mm256_set1_ps(x[j]);
            a = _mm256_fmadd_ps(xj, _mm256_loadu_ps(vt + j * ld + i), a);
            b = _mm256_fmadd_ps(xj, _mm256_loadu_ps(vt + j * ld + i + 8), b);
        }
        _mm256_storeu_ps(z + i, a);
        _mm256_storeu_ps(z + i + 8, b);
    }
    for (; i < n; i++) {
        float s = 0.0f;
        for (size_t j = 0; j < dx; j++) s = s + x[j] * vt[j * ld + i];
        z[i] = s;
    }
}
#endif

size_t capg_lsr_candidates_dot(const float *vt, size_t ld, size_t dx, const float *x, const double *offset,
                               const double *spread, size_t n, double sign, double xn, double cut, float *z,
                               int32_t *out) {
#if defined(__x86_64__)
    if ((capg_cpu_features() & (CAPG_CPU_AVX2 | CAPG_CPU_FMA)) == (CAPG_CPU_AVX2 | CAPG_CPU_FMA)) {
        dot_avx2(vt, ld, dx, x, n, z);
        return candidates_avx2(z, offset, spread, n, sign, xn, cut, out);
    }
#endif
    return capg_lsr_candidates_dot_generic(vt, ld, dx, x, offset, spread, n, sign, xn, cut, z, out);
}
