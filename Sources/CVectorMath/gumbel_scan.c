// Candidate filter of Gumbel-top-K's scan (see include/capg_gumbel.h for the math).
#include "capg_gumbel.h"
#include "cpu_features.h"
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

// The generic variant must round exactly as the AVX2 one (separate multiply and subtract).
#if defined(__clang__)
#pragma clang fp contract(off)
#endif

#define DELTA_CAP 30.0
// 2²³(154 + (3/16)·log₂e) + 2 and 2²³·log₂e (header: the threshold on the float bits).
static const double kA = 8388608.0 * (154.0 + 0.1875 * 1.4426950408889634) + 2.0;
static const double kB = 8388608.0 * 1.4426950408889634;
// NaN and very negative δ end at this threshold, above every float bit pattern of z < 2²⁷.
static const double kHuge = 2147483647.0;

// ⌊min(A − B·min(δ, 30), 2³¹ − 1)⌋ with the operand order of the vector min (a NaN δ
// goes through the first min and is replaced by the second).
static inline int32_t threshold(double kappa, double s) {
    double d = kappa - s;
    double dc = DELTA_CAP < d ? DELTA_CAP : d;
    double t = kA - kB * dc;
    t = t < kHuge ? t : kHuge;
    return (int32_t)t;
}

// The bit pattern of float(~w >> 5): a fixed-point lower bound of log₂ z (+127, ·2²³).
static inline int32_t log_bits(uint32_t w) {
    float f = (float)(int32_t)(~w >> 5);
    int32_t b;
    memcpy(&b, &f, sizeof b);
    return b;
}

static inline double max_of(double a, double b) { return a > b ? a : b; }

static inline uint32_t items_generic(const uint32_t *w, const double *s, size_t n, double kappa) {
    uint32_t m = 0;
    for (size_t j = 0; j < n; j++)
        if (!(log_bits(w[2 * j]) > threshold(kappa, s[j]))) m |= 1u << j;
    return m;
}

static uint32_t block_generic(const uint32_t *w, const double *s, double kappa) {
    uint32_t wmax = 0;
    for (int j = 0; j < 16; j++) wmax = w[2 * j] > wmax ? w[2 * j] : wmax;
    double a[4];
    for (int l = 0; l < 4; l++) a[l] = max_of(max_of(s[l], s[4 + l]), max_of(s[8 + l], s[12 + l]));
    double smax = max_of(max_of(a[0], a[2]), max_of(a[1], a[3]));
    if (log_bits(wmax) > threshold(kappa, smax)) return 0;
    return items_generic(w, s, 16, kappa);
}

// The last count mod 16 items, item by item (no block test), shared by both variants.
static size_t finish(const uint32_t *words, const double *scores, size_t j, size_t count, double kappa,
                     uint64_t *mask, size_t found) {
    if (j < count) {
        uint32_t m = items_generic(words + 2 * j, scores + j, count - j, kappa);
        mask[j >> 6] |= (uint64_t)m << (j & 63);
        found += (size_t)__builtin_popcount(m);
    }
    return found;
}

size_t capg_gumbel_candidates_generic(const uint32_t *words, const double *scores, size_t count, double kappa,
                                      uint64_t *mask) {
    memset(mask, 0, ((count + 63) / 64) * sizeof *mask);
    size_t j = 0, found = 0;
    for (; j + 16 <= count; j += 16) {
        uint32_t m = block_generic(words + 2 * j, scores + j, kappa);
        mask[j >> 6] |= (uint64_t)m << (j & 63);
        found += (size_t)__builtin_popcount(m);
    }
    return finish(words, scores, j, count, kappa, mask, found);
}

#if defined(__x86_64__)
#define AVX2 __attribute__((target("avx2"), always_inline)) static inline

// The 4 thresholds of scores s[0..3] as int32 (the scalar `threshold`, lane by lane).
AVX2 __m128i thresholds4(const double *s, __m256d kappa) {
    const __m256d cap = _mm256_set1_pd(DELTA_CAP), a = _mm256_set1_pd(kA), b = _mm256_set1_pd(kB),
                  huge = _mm256_set1_pd(kHuge);
    __m256d dc = _mm256_min_pd(cap, _mm256_sub_pd(kappa, _mm256_loadu_pd(s)));
    __m256d t = _mm256_min_pd(_mm256_sub_pd(a, _mm256_mul_pd(b, dc)), huge);
    return _mm256_cvttpd_epi32(t);
}

AVX2 uint32_t block_avx2(const uint32_t *w, const double *s, double kappaScalar) {
    // High words of items 0…7 and 8…15, lane order 0 1 4 5 | 2 3 6 7; z = ~w >> 5.
    const __m256i ones = _mm256_set1_epi32(-1);
    __m256 e01 = _mm256_shuffle_ps(_mm256_loadu_ps((const float *)w), _mm256_loadu_ps((const float *)(w + 8)), 0x88);
    __m256 e23 = _mm256_shuffle_ps(_mm256_loadu_ps((const float *)(w + 16)), _mm256_loadu_ps((const float *)(w + 24)), 0x88);
    __m256i z01 = _mm256_srli_epi32(_mm256_xor_si256(_mm256_castps_si256(e01), ones), 5);
    __m256i z23 = _mm256_srli_epi32(_mm256_xor_si256(_mm256_castps_si256(e23), ones), 5);
    // Block test: the smallest z (exact in any order) and the largest score (in the tree
    // order the generic variant copies).
    __m256i zm = _mm256_min_epu32(z01, z23);
    __m128i z4 = _mm_min_epu32(_mm256_castsi256_si128(zm), _mm256_extracti128_si256(zm, 1));
    z4 = _mm_min_epu32(z4, _mm_shuffle_epi32(z4, 0x4E));
    z4 = _mm_min_epu32(z4, _mm_shuffle_epi32(z4, 0xB1));
    uint32_t zmin = (uint32_t)_mm_cvtsi128_si32(z4);
    __m256d m = _mm256_max_pd(_mm256_max_pd(_mm256_loadu_pd(s), _mm256_loadu_pd(s + 4)),
                              _mm256_max_pd(_mm256_loadu_pd(s + 8), _mm256_loadu_pd(s + 12)));
    __m128d h = _mm_max_pd(_mm256_castpd256_pd128(m), _mm256_extractf128_pd(m, 1));
    double smax = max_of(_mm_cvtsd_f64(h), _mm_cvtsd_f64(_mm_unpackhi_pd(h, h)));
    if (log_bits(~(zmin << 5)) > threshold(kappaScalar, smax)) return 0;
    // Per item: lanes back to item order, float bits against the thresholds.
    const __m256d kappa = _mm256_set1_pd(kappaScalar);
    __m256i b01 = _mm256_castps_si256(_mm256_cvtepi32_ps(_mm256_permute4x64_epi64(z01, 0xD8)));
    __m256i b23 = _mm256_castps_si256(_mm256_cvtepi32_ps(_mm256_permute4x64_epi64(z23, 0xD8)));
    __m256i t01 = _mm256_set_m128i(thresholds4(s + 4, kappa), thresholds4(s, kappa));
    __m256i t23 = _mm256_set_m128i(thresholds4(s + 12, kappa), thresholds4(s + 8, kappa));
    uint32_t rejected = (uint32_t)_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(b01, t01))) |
                        (uint32_t)_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(b23, t23))) << 8;
    return ~rejected & 0xFFFFu;
}

__attribute__((target("avx2")))
static size_t candidates_avx2(const uint32_t *words, const double *scores, size_t count, double kappa,
                              uint64_t *mask) {
    memset(mask, 0, ((count + 63) / 64) * sizeof *mask);
    size_t j = 0, found = 0;
    for (; j + 16 <= count; j += 16) {
        uint32_t m = block_avx2(words + 2 * j, scores + j, kappa);
        mask[j >> 6] |= (uint64_t)m << (j & 63);
        found += (size_t)__builtin_popcount(m);
    }
    return finish(words, scores, j, count, kappa, mask, found);
}
#endif

size_t capg_gumbel_candidates(const uint32_t *words, const double *scores, size_t count, double kappa,
                              uint64_t *mask) {
#if defined(__x86_64__)
    if (capg_cpu_features() & CAPG_CPU_AVX2) return candidates_avx2(words, scores, count, kappa, mask);
#endif
    return capg_gumbel_candidates_generic(words, scores, count, kappa, mask);
}
