// The bound-only candidate test of the LSR top-K (see include/capg_lsr_candidates.h).
#include "capg_lsr_candidates.h"
#include "cpu_features.h"
#if defined(__x86_64__)
#include <immintrin.h>
#endif

// No fused multiply-adds: both variants must round identically (same candidate lists).
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
