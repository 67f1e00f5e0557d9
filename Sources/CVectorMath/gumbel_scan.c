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

#if defined(__x86_64__)
#define AVX2 __attribute__((target("avx2"), always_inline)) static inline

// Lane-wise maxima of a block's four word vectors (the even lanes hold the high words).
AVX2 __m256i word_max16(const uint32_t *w) {
    return _mm256_max_epu32(
        _mm256_max_epu32(_mm256_loadu_si256((const __m256i *)w), _mm256_loadu_si256((const __m256i *)(w + 8))),
        _mm256_max_epu32(_mm256_loadu_si256((const __m256i *)(w + 16)), _mm256_loadu_si256((const __m256i *)(w + 24))));
}
#endif

// The score-dependent part, once per row element type (gumbel_scan_rows.h): a float row's
// scores are widened in registers (exact), so both variants make bitwise the same
// decisions, and the float one needs no widened copy of the row.
#define CAPG_SCORE double
#define CAPG_ROW(name) name##_f64
#define CAPG_ROW_API capg_gumbel_candidates
#define CAPG_ROW_GENERIC_API capg_gumbel_candidates_generic
#define CAPG_LOAD4(p) _mm256_loadu_pd(p)
#include "gumbel_scan_rows.h"
#undef CAPG_SCORE
#undef CAPG_ROW
#undef CAPG_ROW_API
#undef CAPG_ROW_GENERIC_API
#undef CAPG_LOAD4

#define CAPG_SCORE float
#define CAPG_ROW(name) name##_f32
#define CAPG_ROW_API capg_gumbel_candidates_f32
#define CAPG_ROW_GENERIC_API capg_gumbel_candidates_f32_generic
#define CAPG_LOAD4(p) _mm256_cvtps_pd(_mm_loadu_ps(p))
#include "gumbel_scan_rows.h"
