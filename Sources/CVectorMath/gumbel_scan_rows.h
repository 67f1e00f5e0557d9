// The score-dependent part of Gumbel-top-K's candidate filter (see include/capg_gumbel.h
// for the math), included by gumbel_scan.c once per row element type. The includer
// defines CAPG_SCORE (double or float), CAPG_ROW(name) (the suffixed name of a helper),
// CAPG_ROW_API / CAPG_ROW_GENERIC_API (the exported names) and CAPG_LOAD4(p) (four scores
// from p as a __m256d). Every score is used as the double it is or widens to (exactly), so
// each instantiation makes the decisions of the double one on the widened row.

static inline uint32_t CAPG_ROW(items_generic)(const uint32_t *w, const CAPG_SCORE *s, size_t n, double kappa) {
    uint32_t m = 0;
    for (size_t j = 0; j < n; j++)
        if (!(log_bits(w[2 * j]) > threshold(kappa, s[j]))) m |= 1u << j;
    return m;
}

// The block test: whether a block of 16 may hold a candidate (its largest high word against
// the threshold of its largest score).
static inline int CAPG_ROW(block_passes)(const uint32_t *w, const CAPG_SCORE *s, double kappa) {
    uint32_t wmax = 0;
    for (int j = 0; j < 16; j++) wmax = w[2 * j] > wmax ? w[2 * j] : wmax;
    // The AVX2 variant's order: lane l of the block's four 4-vectors from −∞, the score as
    // the first operand (so a NaN score is skipped and never hides a larger one before
    // it), then lanes (0, 1), (2, 3) and the two.
    double a[4];
    for (int l = 0; l < 4; l++) {
        a[l] = -__builtin_inf();
        for (int v = 0; v < 4; v++) a[l] = max_of(s[4 * v + l], a[l]);
    }
    double smax = max_of(max_of(a[0], a[1]), max_of(a[2], a[3]));
    return !(log_bits(wmax) > threshold(kappa, smax));
}

static uint32_t CAPG_ROW(block_generic)(const uint32_t *w, const CAPG_SCORE *s, double kappa) {
    return CAPG_ROW(block_passes)(w, s, kappa) ? CAPG_ROW(items_generic)(w, s, 16, kappa) : 0;
}

// The last count mod 16 items, item by item (no block test), shared by both variants.
static size_t CAPG_ROW(finish)(const uint32_t *words, const CAPG_SCORE *scores, size_t j, size_t count, double kappa,
                     uint64_t *mask, size_t found) {
    if (j < count) {
        uint32_t m = CAPG_ROW(items_generic)(words + 2 * j, scores + j, count - j, kappa);
        mask[j >> 6] |= (uint64_t)m << (j & 63);
        found += (size_t)__builtin_popcount(m);
    }
    return found;
}

size_t CAPG_ROW_GENERIC_API(const uint32_t *words, const CAPG_SCORE *scores, size_t count, double kappa,
                                      uint64_t *mask) {
    memset(mask, 0, ((count + 63) / 64) * sizeof *mask);
    size_t j = 0, found = 0;
    for (; j + 16 <= count; j += 16) {
        uint32_t m = CAPG_ROW(block_generic)(words + 2 * j, scores + j, kappa);
        mask[j >> 6] |= (uint64_t)m << (j & 63);
        found += (size_t)__builtin_popcount(m);
    }
    return CAPG_ROW(finish)(words, scores, j, count, kappa, mask, found);
}

#if defined(__x86_64__)

// The 4 thresholds of scores s[0..3] as int32 (the scalar `threshold`, lane by lane).
AVX2 __m128i CAPG_ROW(thresholds4)(const CAPG_SCORE *s, __m256d kappa) {
    const __m256d cap = _mm256_set1_pd(DELTA_CAP), a = _mm256_set1_pd(kA), b = _mm256_set1_pd(kB),
                  huge = _mm256_set1_pd(kHuge);
    __m256d dc = _mm256_min_pd(cap, _mm256_sub_pd(kappa, CAPG_LOAD4(s)));
    __m256d t = _mm256_min_pd(_mm256_sub_pd(a, _mm256_mul_pd(b, dc)), huge);
    return _mm256_cvttpd_epi32(t);
}

// The per-item test on one block of 16 (`items_generic` on 8 lanes): the high words by
// two shuffles (lane order 0 1 4 5 | 2 3 6 7, restored by a 64-bit permute), z = ~w >> 5,
// the float bits against the int32 thresholds.
AVX2 uint32_t CAPG_ROW(items16_avx2)(const uint32_t *w, const CAPG_SCORE *s, __m256d kappa) {
    const __m256i ones = _mm256_set1_epi32(-1);
    __m256 e01 = _mm256_shuffle_ps(_mm256_loadu_ps((const float *)w), _mm256_loadu_ps((const float *)(w + 8)), 0x88);
    __m256 e23 = _mm256_shuffle_ps(_mm256_loadu_ps((const float *)(w + 16)), _mm256_loadu_ps((const float *)(w + 24)), 0x88);
    __m256i z01 = _mm256_srli_epi32(_mm256_xor_si256(_mm256_castps_si256(e01), ones), 5);
    __m256i z23 = _mm256_srli_epi32(_mm256_xor_si256(_mm256_castps_si256(e23), ones), 5);
    __m256i b01 = _mm256_castps_si256(_mm256_cvtepi32_ps(_mm256_permute4x64_epi64(z01, 0xD8)));
    __m256i b23 = _mm256_castps_si256(_mm256_cvtepi32_ps(_mm256_permute4x64_epi64(z23, 0xD8)));
    __m256i t01 = _mm256_set_m128i(CAPG_ROW(thresholds4)(s + 4, kappa), CAPG_ROW(thresholds4)(s, kappa));
    __m256i t23 = _mm256_set_m128i(CAPG_ROW(thresholds4)(s + 12, kappa), CAPG_ROW(thresholds4)(s + 8, kappa));
    uint32_t rejected = (uint32_t)_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(b01, t01))) |
                        (uint32_t)_mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(b23, t23))) << 8;
    return ~rejected & 0xFFFFu;
}

// Lane-wise maxima of a block's four score vectors (the generic variant's lane order).
// vmaxpd returns its second operand when either is NaN: with the running maximum second
// (from −∞) a NaN score is skipped; a NaN-first tree could drop the real scores beside it.
AVX2 __m256d CAPG_ROW(score_max16)(const CAPG_SCORE *s) {
    __m256d m = _mm256_max_pd(CAPG_LOAD4(s), _mm256_set1_pd(-__builtin_inf()));
    m = _mm256_max_pd(CAPG_LOAD4(s + 4), m);
    m = _mm256_max_pd(CAPG_LOAD4(s + 8), m);
    return _mm256_max_pd(CAPG_LOAD4(s + 12), m);
}

// Four blocks (64 items) at once: the block tests share one horizontal reduction (a 4×4
// transpose by unpack and 128-bit permutes) and one threshold vector, and only the
// passing blocks get the per-item test. In a C harness (N = 10⁵, normal scores, κ the
// 100th key, each chunk's words fresh from the Philox fill; min over 300 runs) this costs
// 0.31–0.40 ns per item on top of the fill's 1.23; one block at a time with a scalar block
// test and a branch per block, 0.44–0.66; the per-item test on every block, 0.40–0.53.
AVX2 uint64_t CAPG_ROW(quad_avx2)(const uint32_t *w, const CAPG_SCORE *s, double kappaScalar) {
    const __m256d kappa = _mm256_set1_pd(kappaScalar);
    __m256i wa = word_max16(w), wb = word_max16(w + 32), wc = word_max16(w + 64), wd = word_max16(w + 96);
    __m256i pab = _mm256_max_epu32(_mm256_unpacklo_epi64(wa, wb), _mm256_unpackhi_epi64(wa, wb));
    __m256i pcd = _mm256_max_epu32(_mm256_unpacklo_epi64(wc, wd), _mm256_unpackhi_epi64(wc, wd));
    __m256i wq = _mm256_max_epu32(_mm256_permute2x128_si256(pab, pcd, 0x20), _mm256_permute2x128_si256(pab, pcd, 0x31));
    __m128i w4 = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(wq, _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6)));
    __m128i bits = _mm_castps_si128(_mm_cvtepi32_ps(_mm_srli_epi32(_mm_xor_si128(w4, _mm_set1_epi32(-1)), 5)));
    __m256d sa = CAPG_ROW(score_max16)(s), sb = CAPG_ROW(score_max16)(s + 16), sc = CAPG_ROW(score_max16)(s + 32), sd = CAPG_ROW(score_max16)(s + 48);
    __m256d qab = _mm256_max_pd(_mm256_unpacklo_pd(sa, sb), _mm256_unpackhi_pd(sa, sb));
    __m256d qcd = _mm256_max_pd(_mm256_unpacklo_pd(sc, sd), _mm256_unpackhi_pd(sc, sd));
    __m256d sq = _mm256_max_pd(_mm256_permute2f128_pd(qab, qcd, 0x20), _mm256_permute2f128_pd(qab, qcd, 0x31));
    const __m256d cap = _mm256_set1_pd(DELTA_CAP), a = _mm256_set1_pd(kA), b = _mm256_set1_pd(kB),
                  huge = _mm256_set1_pd(kHuge);
    __m256d dc = _mm256_min_pd(cap, _mm256_sub_pd(kappa, sq));
    __m128i t = _mm256_cvttpd_epi32(_mm256_min_pd(_mm256_sub_pd(a, _mm256_mul_pd(b, dc)), huge));
    uint32_t pass = ~(uint32_t)_mm_movemask_ps(_mm_castsi128_ps(_mm_cmpgt_epi32(bits, t))) & 0xFu;
    uint64_t m = 0;
    while (pass) {
        int q = __builtin_ctz(pass);
        pass &= pass - 1;
        m |= (uint64_t)CAPG_ROW(items16_avx2)(w + 32 * q, s + 16 * q, kappa) << (16 * q);
    }
    return m;
}

// One block of 16 outside a quad (a piece's last < 4 whole blocks): the generic block test
// (the same decision), then the per-item test on 8 lanes (`items16_avx2`, bitwise
// `items_generic`). The scan's pieces of 32–48 items at
// the start of a query are all such blocks, and nearly all of them pass the block test, so
// the scalar per-item loop was most of their cost.
AVX2 uint32_t CAPG_ROW(block_avx2)(const uint32_t *w, const CAPG_SCORE *s, double kappa) {
    return CAPG_ROW(block_passes)(w, s, kappa) ? CAPG_ROW(items16_avx2)(w, s, _mm256_set1_pd(kappa)) : 0;
}

__attribute__((target("avx2")))
static size_t CAPG_ROW(candidates_avx2)(const uint32_t *words, const CAPG_SCORE *scores, size_t count, double kappa,
                              uint64_t *mask) {
    memset(mask, 0, ((count + 63) / 64) * sizeof *mask);
    size_t j = 0, found = 0;
    for (; j + 64 <= count; j += 64) {
        uint64_t m = CAPG_ROW(quad_avx2)(words + 2 * j, scores + j, kappa);
        mask[j >> 6] = m;
        found += (size_t)__builtin_popcountll(m);
    }
    // The last < 4 whole blocks one by one (the generic variant's block test).
    for (; j + 16 <= count; j += 16) {
        uint32_t m = CAPG_ROW(block_avx2)(words + 2 * j, scores + j, kappa);
        mask[j >> 6] |= (uint64_t)m << (j & 63);
        found += (size_t)__builtin_popcount(m);
    }
    return CAPG_ROW(finish)(words, scores, j, count, kappa, mask, found);
}
#endif

size_t CAPG_ROW_API(const uint32_t *words, const CAPG_SCORE *scores, size_t count, double kappa,
                              uint64_t *mask) {
#if defined(__x86_64__)
    if (capg_cpu_features() & CAPG_CPU_AVX2) return CAPG_ROW(candidates_avx2)(words, scores, count, kappa, mask);
#endif
    return CAPG_ROW_GENERIC_API(words, scores, count, kappa, mask);
}
