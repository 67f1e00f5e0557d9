// Box–Muller normals rounded to Float, bitwise libm's (see include/capg_normals.h).
#include "capg_normals.h"
#include "cpu_features.h"
#include <math.h>
#include <string.h>

// No fused multiply-adds: u₁ and u₂ must be computed exactly as Swift computes them (they
// are libm's inputs), and the error analysis assumes separately rounded operations.
#pragma clang fp contract(off)

static const double ln2_hi = 6.93147180369123816490e-01; // 32 bits: e·ln2_hi is exact for |e| ≤ 64
static const double ln2_lo = 1.90821492927058770002e-10;
static const double pio2_1 = 1.57079632673412561417e+00;  // first 33 bits of π/2: j·pio2_1 exact for j ≤ 4
static const double pio2_1t = 6.07710050650619224932e-11; // π/2 − pio2_1
static const double two_over_pi = 6.36619772367581382433e-01;
static const double shifter = 6755399441055744.0; // 1.5 · 2^52: adding it rounds to an integer

// log u for u in [2⁻⁵⁴, 1]: u = 2^e·f, f in [√½, √2), log f = 2·atanh(s) = 2(s + s³/3 + …
// + s²¹/21), s = (f − 1)/(f + 1), |s| ≤ 0.1716 (next term < 1e-17 relative). f − 1 is exact
// (Sterbenz); for e ≠ 0 the result is ≥ 0.34 in magnitude, so no cancellation.
static inline __attribute__((always_inline)) double log_approx(double u) {
    uint64_t bits;
    memcpy(&bits, &u, sizeof bits);
    uint64_t mbits = (bits & 0x000FFFFFFFFFFFFFULL) | 0x3FF0000000000000ULL;
    double f;
    memcpy(&f, &mbits, sizeof f);
    double e = (double)(int32_t)(bits >> 52) - 1023.0;
    int big = f > 1.4142135623730951;
    f = big ? f * 0.5 : f;
    e = big ? e + 1.0 : e;
    double s = (f - 1.0) / (f + 1.0);
    double s2 = s * s;
    double p = 1.0 / 21;
    p = p * s2 + 1.0 / 19;
    p = p * s2 + 1.0 / 17;
    p = p * s2 + 1.0 / 15;
    p = p * s2 + 1.0 / 13;
    p = p * s2 + 1.0 / 11;
    p = p * s2 + 1.0 / 9;
    p = p * s2 + 1.0 / 7;
    p = p * s2 + 1.0 / 5;
    p = p * s2 + 1.0 / 3;
    p = p * s2 + 1.0;
    return e * ln2_hi + (e * ln2_lo + 2.0 * s * p);
}

// cos t for t in (0, 2π]: t = jπ/2 + x with j = round(2t/π) ≤ 4 and |x| ≲ π/4 (t − j·pio2_1
// is exact: Sterbenz), then ±cos x or ±sin x by Taylor polynomials (to x¹⁸ and x¹⁷:
// truncation < 2e-19 for |x| ≤ 0.8).
static inline __attribute__((always_inline)) double cos_approx(double t) {
    double shifted = t * two_over_pi + shifter;
    double j = shifted - shifter;
    int64_t jbits;
    memcpy(&jbits, &shifted, sizeof jbits);
    int q = (int)(jbits & 3);
    double x = (t - j * pio2_1) - j * pio2_1t;
    double x2 = x * x;
    double c = 1.0 / 6402373705728000.0; // 1/18!
    c = c * -x2 + 1.0 / 20922789888000.0;
    c = c * -x2 + 1.0 / 87178291200.0;
    c = c * -x2 + 1.0 / 479001600.0;
    c = c * -x2 + 1.0 / 3628800.0;
    c = c * -x2 + 1.0 / 40320.0;
    c = c * -x2 + 1.0 / 720.0;
    c = c * -x2 + 1.0 / 24.0;
    c = c * -x2 + 1.0 / 2.0;
    c = c * -x2 + 1.0;
    double s = 1.0 / 355687428096000.0; // 1/17!
    s = s * -x2 + 1.0 / 1307674368000.0;
    s = s * -x2 + 1.0 / 6227020800.0;
    s = s * -x2 + 1.0 / 39916800.0;
    s = s * -x2 + 1.0 / 362880.0;
    s = s * -x2 + 1.0 / 5040.0;
    s = s * -x2 + 1.0 / 120.0;
    s = s * -x2 + 1.0 / 6.0;
    s = s * -x2 + 1.0;
    s = s * x;
    double v = (q & 1) ? s : c;
    // cos(x + jπ/2): cos x, −sin x, −cos x, sin x for j mod 4 = 0, 1, 2, 3.
    return (q == 1 || q == 2) ? -v : v;
}

// One block: 1 when `*out` holds libm's rounded value, 0 when the interval straddles a
// Float rounding boundary (or r = 0, below).
static inline __attribute__((always_inline)) int scaled_normal(const uint32_t *w, double scale, float *out) {
    // u₁, u₂ exactly as `RandomStream.boxMuller`: (m + ½)·2⁻⁵³, m = (w₀ ≫ 5)·2²⁶ + (w₁ ≫ 6)
    // (< 2⁵³, so its conversion is exact however it is split).
    double u1 = ((double)(int32_t)(w[0] >> 5) * 67108864.0 + (double)(int32_t)(w[1] >> 6) + 0.5) * 0x1p-53;
    double u2 = ((double)(int32_t)(w[2] >> 5) * 67108864.0 + (double)(int32_t)(w[3] >> 6) + 0.5) * 0x1p-53;
    double r = sqrt(-2.0 * log_approx(u1));
    double v = r * cos_approx(6.283185307179586 * u2) * scale;
    double d = fabs(scale) * r * 1e-11;
    float lo = (float)(v - d), hi = (float)(v + d);
    *out = lo;
    // Equal bits (so also equal signs of zero); r = 0 (u₁ rounds to 1 for the largest m,
    // and libm's z is then a zero whose sign follows its cos) is left to libm.
    uint32_t a, b;
    memcpy(&a, &lo, sizeof a);
    memcpy(&b, &hi, sizeof b);
    return (a == b) & (r != 0.0);
}

// Chunks of 256 blocks: the decisions go to a stack array so that the value loop has no
// branch (and vectorizes); the undecided indices are gathered after it.
#define CAPG_NORMALS_BODY                                                                \
    size_t count = 0;                                                                    \
    unsigned char ok[256];                                                               \
    for (size_t c = 0; c < n; c += 256) {                                                \
        size_t m = n - c < 256 ? n - c : 256;                                            \
        for (size_t i = 0; i < m; i++) ok[i] = (unsigned char)scaled_normal(words + 4 * (c + i), scale, out + c + i); \
        for (size_t i = 0; i < m; i++) {                                                 \
            undecided[count] = (int32_t)(c + i);                                         \
            count += !ok[i];                                                             \
        }                                                                                \
    }                                                                                    \
    return count;

#if defined(__x86_64__)
__attribute__((target("avx2,fma")))
static size_t normals_avx2(const uint32_t *restrict words, size_t n, double scale, float *restrict out,
                           int32_t *restrict undecided) {
    CAPG_NORMALS_BODY
}
#endif

size_t capg_scaled_normals_generic(const uint32_t *words, size_t n, double scale, float *out, int32_t *undecided) {
    CAPG_NORMALS_BODY
}

size_t capg_scaled_normals(const uint32_t *words, size_t n, double scale, float *out, int32_t *undecided) {
#if defined(__x86_64__)
    if ((capg_cpu_features() & CAPG_CPU_AVX2)) return normals_avx2(words, n, scale, out, undecided);
#endif
    return capg_scaled_normals_generic(words, n, scale, out, undecided);
}
