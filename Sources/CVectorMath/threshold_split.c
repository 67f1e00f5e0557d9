// The hot/cold split of the threshold race's weights (see include/capg_threshold.h).
#include "capg_threshold.h"
#include <stdint.h>
#include "capg_vexp.h"
#include "cpu_features.h"
#include "nonfinite.h"
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

// No fused multiply-adds anywhere in this file: the AVX2 and the generic variant (and the
// Swift scalar forms they replace) must round identically.
#pragma clang fp contract(off)

// Running state of a split over consecutive ranges of one row (`capg_threshold_exp_split`
// splits chunk by chunk): per moment, lane i mod 4 partial sums; the eight interleaved
// partial sums of Σw over 8-blocks and the sequential sum of the final n mod 8 items.
typedef struct {
    double m[8][4];
    double acc[8];
    double tail;
    size_t hot;
} split_state;

static void state_finish(const split_state *s, capg_threshold_split_result *out) {
    for (int k = 0; k < 8; k++) out->moments[k] = (s->m[k][0] + s->m[k][1]) + (s->m[k][2] + s->m[k][3]);
    double sum = s->tail;
    for (int j = 0; j < 8; j++) sum += s->acc[j];
    out->sum = sum;
    out->hot_count = s->hot;
}

// Items [begin, end) of w (global indices; begin % 8 == 0, and end % 8 == 0 unless end == n).
static void split_range_generic(const double *w, size_t begin, size_t end, double cut, int32_t *hot,
                                split_state *s) {
    size_t h = s->hot;
    size_t i = begin;
    for (; i + 8 <= end; i += 8)
        for (int j = 0; j < 8; j++) s->acc[j] += w[i + j];
    for (size_t j = i; j < end; j++) s->tail += w[j];
    for (i = begin; i < end; i++) {
        double wi = w[i];
        int is_hot = wi > cut;
        if (is_hot) hot[h++] = (int32_t)i;
        double v = is_hot ? 0.0 : wi;
        double v2 = v * v, v3 = v2 * v, v4 = v2 * v2;
        size_t l = i & 3;
        s->m[0][l] += v; s->m[1][l] += v2; s->m[2][l] += v3; s->m[3][l] += v4;
        s->m[4][l] += v4 * v; s->m[5][l] += v4 * v2; s->m[6][l] += v4 * v3; s->m[7][l] += v4 * v4;
    }
    s->hot = h;
}

#if defined(__x86_64__)
// One 4-block at global index BASE (≡ 0 mod 4) whose valid lanes are VALID (bit mask).
#define CAPG_SPLIT_BLOCK4(WV, BASE, VALID)                                                   \
    do {                                                                                     \
        __m256d wv_ = (WV);                                                                  \
        __m256d hm_ = _mm256_cmp_pd(wv_, cutv, _CMP_GT_OQ);                                  \
        int mk_ = _mm256_movemask_pd(hm_) & (VALID);                                         \
        while (mk_) {                                                                        \
            hot[h++] = (int32_t)((BASE) + (size_t)__builtin_ctz((unsigned)mk_));             \
            mk_ &= mk_ - 1;                                                                  \
        }                                                                                    \
        __m256d v_ = _mm256_andnot_pd(hm_, wv_);                                             \
        __m256d v2_ = _mm256_mul_pd(v_, v_);                                                 \
        __m256d v3_ = _mm256_mul_pd(v2_, v_);                                                \
        __m256d v4_ = _mm256_mul_pd(v2_, v2_);                                               \
        m0 = _mm256_add_pd(m0, v_);                                                          \
        m1 = _mm256_add_pd(m1, v2_);                                                         \
        m2 = _mm256_add_pd(m2, v3_);                                                         \
        m3 = _mm256_add_pd(m3, v4_);                                                         \
        m4 = _mm256_add_pd(m4, _mm256_mul_pd(v4_, v_));                                      \
        m5 = _mm256_add_pd(m5, _mm256_mul_pd(v4_, v2_));                                     \
        m6 = _mm256_add_pd(m6, _mm256_mul_pd(v4_, v3_));                                     \
        m7 = _mm256_add_pd(m7, _mm256_mul_pd(v4_, v4_));                                     \
    } while (0)

__attribute__((target("avx2,fma")))
static void split_range_avx2(const double *w, size_t begin, size_t end, double cut, int32_t *hot, split_state *s) {
    size_t h = s->hot;
    const __m256d cutv = _mm256_set1_pd(cut);
    __m256d m0 = _mm256_loadu_pd(s->m[0]), m1 = _mm256_loadu_pd(s->m[1]), m2 = _mm256_loadu_pd(s->m[2]),
            m3 = _mm256_loadu_pd(s->m[3]), m4 = _mm256_loadu_pd(s->m[4]), m5 = _mm256_loadu_pd(s->m[5]),
            m6 = _mm256_loadu_pd(s->m[6]), m7 = _mm256_loadu_pd(s->m[7]);
    __m256d acc_a = _mm256_loadu_pd(s->acc), acc_b = _mm256_loadu_pd(s->acc + 4);
    size_t i = begin;
    for (; i + 8 <= end; i += 8) {
        __m256d a = _mm256_loadu_pd(w + i), b = _mm256_loadu_pd(w + i + 4);
        acc_a = _mm256_add_pd(acc_a, a);
        acc_b = _mm256_add_pd(acc_b, b);
        CAPG_SPLIT_BLOCK4(a, i, 15);
        CAPG_SPLIT_BLOCK4(b, i + 4, 15);
    }
    for (size_t j = i; j < end; j++) s->tail += w[j];
    if (i + 4 <= end) {
        CAPG_SPLIT_BLOCK4(_mm256_loadu_pd(w + i), i, 15);
        i += 4;
    }
    if (i < end) {
        // Zero padding: a padded lane adds +0 to its partial sums (which are ≥ +0 or NaN), and
        // is masked out of the hot list.
        double pad[4] = {0, 0, 0, 0};
        memcpy(pad, w + i, (end - i) * sizeof(double));
        CAPG_SPLIT_BLOCK4(_mm256_loadu_pd(pad), i, (1 << (end - i)) - 1);
    }
    _mm256_storeu_pd(s->m[0], m0); _mm256_storeu_pd(s->m[1], m1); _mm256_storeu_pd(s->m[2], m2);
    _mm256_storeu_pd(s->m[3], m3); _mm256_storeu_pd(s->m[4], m4); _mm256_storeu_pd(s->m[5], m5);
    _mm256_storeu_pd(s->m[6], m6); _mm256_storeu_pd(s->m[7], m7);
    _mm256_storeu_pd(s->acc, acc_a); _mm256_storeu_pd(s->acc + 4, acc_b);
    s->hot = h;
}
#endif

static void split_range(int avx2, const double *w, size_t begin, size_t end, double cut, int32_t *hot,
                        split_state *s) {
#if defined(__x86_64__)
    if (avx2) { split_range_avx2(w, begin, end, cut, hot, s); return; }
#endif
    (void)avx2;
    split_range_generic(w, begin, end, cut, hot, s);
}

void capg_threshold_split(const double *w, size_t n, double cut, int32_t *hot, capg_threshold_split_result *out) {
    split_state s;
    memset(&s, 0, sizeof s);
    split_range((capg_cpu_features() & CAPG_CPU_AVX2), w, 0, n, cut, hot, &s);
    state_finish(&s, out);
}

void capg_threshold_split_generic(const double *w, size_t n, double cut, int32_t *hot,
                                  capg_threshold_split_result *out) {
    split_state s;
    memset(&s, 0, sizeof s);
    split_range_generic(w, 0, n, cut, hot, &s);
    state_finish(&s, out);
}

// 1024 items: x and w chunks (16 KiB) stay in L1 between the exp and the split.
enum { CAPG_SPLIT_CHUNK = 1024 };

// The fused exp + split of a double or a float row (EXP: `capg_exp_shifted` or its float
// variant, bitwise equal on the same values), so both share one loop.
#define CAPG_EXP_SPLIT_BODY(EXP)                                             \
    split_state s;                                                           \
    memset(&s, 0, sizeof s);                                                 \
    int avx2 = (capg_cpu_features() & CAPG_CPU_AVX2);                        \
    for (size_t c = 0; c < n; c += CAPG_SPLIT_CHUNK) {                       \
        size_t e = n - c < CAPG_SPLIT_CHUNK ? n : c + CAPG_SPLIT_CHUNK;      \
        (void)EXP(x + c, shift, w + c, e - c);                               \
        split_range(avx2, w, c, e, cut, hot, &s);                            \
    }                                                                        \
    state_finish(&s, out);

void capg_threshold_exp_split_f32(const float *x, double shift, double *w, size_t n, double cut, int32_t *hot,
                                  capg_threshold_split_result *out) {
    CAPG_EXP_SPLIT_BODY(capg_exp_shifted_f32)
}

void capg_threshold_exp_split(const double *x, double shift, double *w, size_t n, double cut, int32_t *hot,
                              capg_threshold_split_result *out) {
    CAPG_EXP_SPLIT_BODY(capg_exp_shifted)
}

// e^{−x} for 0 ≤ x ≤ 0.05, as `ThresholdHotCold.coldExpNeg` (0 for a hot item, w > cut).
#define CAPG_COLD_DECAY_FACTOR(WJ, X, CUT)                                                              \
    ((WJ) > (CUT) ? 0.0                                                                              \
                  : 1 - (X) * (1 - (X) * (0.5 - (X) * (1.0 / 6 - (X) * (1.0 / 24 - (X) * (1.0 / 120      \
                        - (X) * (1.0 / 720 - (X) * (1.0 / 5040 - (X) * (1.0 / 40320)))))))))

#define CAPG_COLD_DECAY_LOOP                                                                         \
    for (size_t j = 0; j < n; j++) {                                                                 \
        double wj = w[j];                                                                            \
        double x = wj * t;                                                                           \
        double e = CAPG_COLD_DECAY_FACTOR(wj, x, cut);                                               \
        g[j] -= c * wj * e;                                                                          \
    }

// The same term subtracted from a zeroed Double row and narrowed as `capg_narrow_set_clear`
// narrows it (`y = (float)(0 − c·w·e) + 0`, the NaN/±∞ check on the narrowed value), without
// the Double row.
#define CAPG_COLD_DECAY_NARROW_SET_LOOP                                                              \
    uint32_t worst = 0;                                                                              \
    for (size_t j = 0; j < n; j++) {                                                                 \
        double wj = w[j];                                                                            \
        double x = wj * t;                                                                           \
        double e = CAPG_COLD_DECAY_FACTOR(wj, x, cut);                                               \
        float f = (float)(0.0 - c * wj * e);                                                         \
        y[j] = f + 0.0f;                                                                             \
        worst = capg_worst_exponent(worst, f);                                                       \
    }                                                                                                \
    return capg_exponent_nonfinite(worst);

#if defined(__x86_64__)
__attribute__((target("avx2,fma")))
static void cold_decay_avx2(const double *restrict w, size_t n, double cut, double t, double c, double *restrict g) {
    CAPG_COLD_DECAY_LOOP
}
__attribute__((target("avx2,fma")))
static int cold_decay_narrow_set_avx2(const double *restrict w, size_t n, double cut, double t, double c,
                                      float *restrict y) {
    CAPG_COLD_DECAY_NARROW_SET_LOOP
}
#endif

static void cold_decay_generic(const double *restrict w, size_t n, double cut, double t, double c, double *restrict g) {
    CAPG_COLD_DECAY_LOOP
}

static int cold_decay_narrow_set_generic(const double *restrict w, size_t n, double cut, double t, double c,
                                         float *restrict y) {
    CAPG_COLD_DECAY_NARROW_SET_LOOP
}

void capg_threshold_subtract_cold_decay(const double *w, size_t n, double cut, double t, double c, double *g) {
#if defined(__x86_64__)
    if ((capg_cpu_features() & CAPG_CPU_AVX2)) { cold_decay_avx2(w, n, cut, t, c, g); return; }
#endif
    cold_decay_generic(w, n, cut, t, c, g);
}

int capg_threshold_cold_decay_narrow_set(const double *w, size_t n, double cut, double t, double c, float *y) {
#if defined(__x86_64__)
    if ((capg_cpu_features() & CAPG_CPU_AVX2)) return cold_decay_narrow_set_avx2(w, n, cut, t, c, y);
#endif
    return cold_decay_narrow_set_generic(w, n, cut, t, c, y);
}

int capg_threshold_cold_decay_narrow_set_generic(const double *w, size_t n, double cut, double t, double c, float *y) {
    return cold_decay_narrow_set_generic(w, n, cut, t, c, y);
}
