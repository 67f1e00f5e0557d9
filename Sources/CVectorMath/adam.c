// The Adam update's elementwise pass (see include/capg_adam.h).
#include "capg_adam.h"
#include "cpu_features.h"
#include <math.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

// Each lane must round exactly as the scalar loop: no contraction into FMAs.
#pragma clang fp contract(off)

void capg_adam_ascend_f32_generic(float *p, float *m, float *v, const float *g, size_t n,
                                  float b1, float b2, float step, float eps) {
    const float c1 = 1.0f - b1, c2 = 1.0f - b2;
    for (size_t i = 0; i < n; i++) {
        float gi = g[i];
        float mi = b1 * m[i] + c1 * gi;
        float vi = b2 * v[i] + c2 * gi * gi;
        m[i] = mi;
        v[i] = vi;
        p[i] += step * mi / (sqrtf(vi) + eps);
    }
}

#if defined(__x86_64__)
__attribute__((target("avx2")))
static void adam_avx2(float *p, float *m, float *v, const float *g, size_t n,
                      float b1, float b2, float step, float eps) {
    const __m256 vb1 = _mm256_set1_ps(b1), vb2 = _mm256_set1_ps(b2);
    const __m256 vc1 = _mm256_set1_ps(1.0f - b1), vc2 = _mm256_set1_ps(1.0f - b2);
    const __m256 vstep = _mm256_set1_ps(step), veps = _mm256_set1_ps(eps);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 gi = _mm256_loadu_ps(g + i);
        __m256 mi = _mm256_add_ps(_mm256_mul_ps(vb1, _mm256_loadu_ps(m + i)), _mm256_mul_ps(vc1, gi));
        __m256 vi = _mm256_add_ps(_mm256_mul_ps(vb2, _mm256_loadu_ps(v + i)), _mm256_mul_ps(_mm256_mul_ps(vc2, gi), gi));
        _mm256_storeu_ps(m + i, mi);
        _mm256_storeu_ps(v + i, vi);
        __m256 d = _mm256_div_ps(_mm256_mul_ps(vstep, mi), _mm256_add_ps(_mm256_sqrt_ps(vi), veps));
        _mm256_storeu_ps(p + i, _mm256_add_ps(_mm256_loadu_ps(p + i), d));
    }
    if (i < n) capg_adam_ascend_f32_generic(p + i, m + i, v + i, g + i, n - i, b1, b2, step, eps);
}
#endif

void capg_adam_ascend_f32(float *p, float *m, float *v, const float *g, size_t n,
                          float b1, float b2, float step, float eps) {
#if defined(__x86_64__)
    if (capg_cpu_features() & CAPG_CPU_AVX2) {
        adam_avx2(p, m, v, g, n, b1, b2, step, eps);
        return;
    }
#endif
    capg_adam_ascend_f32_generic(p, m, v, g, n, b1, b2, step, eps);
}
