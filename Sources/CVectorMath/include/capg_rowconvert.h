#ifndef CAPG_ROWCONVERT_H
#define CAPG_ROWCONVERT_H
#include <stddef.h>

/// out[i] = (double)x[i] for i < n, and *top / *bottom the largest / smallest x[i] as the
/// sequential `top = v > top ? v : top` (from −∞) and `bottom = v < bottom ? v : bottom`
/// (from +∞) give them (a NaN is never taken; exact, order-free). Vectorized (AVX2 when
/// available). O(n).
void capg_widen_minmax(const float *x, double *out, size_t n, float *top, float *bottom);

/// `capg_widen_minmax` without the Double row: *top / *bottom the largest / smallest x[i]
/// (NaNs never taken; ±∞ from an empty or all-NaN row), by the same loop, so bitwise the
/// same values. For callers that read the float row directly. O(n), 4 bytes read per item.
void capg_minmax_f32(const float *x, size_t n, float *top, float *bottom);

/// The generic (non-AVX2) variant of `capg_minmax_f32`, for tests.
void capg_minmax_f32_generic(const float *x, size_t n, float *top, float *bottom);

/// y[i] += (float)g[i] and g[i] = 0 for i < n (the estimator's Double row added to the Float
/// gradient row); returns 1 when some (float)g[i] is NaN or ±∞, else 0. Vectorized. O(n).
int capg_narrow_add_clear(double *g, float *y, size_t n);

/// `capg_narrow_add_clear` for a row that is written, not added to: y[i] = (float)g[i] + 0,
/// bitwise what adding to a zeroed row gives (so the caller need not zero y first; −0
/// becomes +0 as it did there). Same flag, same clearing of g. O(n).
int capg_narrow_set_clear(double *g, float *y, size_t n);

/// The generic (non-AVX2) variant of `capg_narrow_set_clear`, for tests that compare the two.
int capg_narrow_set_clear_generic(double *g, float *y, size_t n);

/// y[i] = (float)(0 − c·w[i]) + 0 for i < n: what `g[i] −= c·w[i]` on a zeroed Double row
/// followed by `capg_narrow_set_clear` writes, without the Double row (V-PG's rest-weight
/// term; a NaN may come out with the other sign). Returns 1 when some (float)(0 − c·w[i]) is
/// NaN or ±∞. Vectorized. O(n).
int capg_negscale_narrow_set(const double *w, double c, float *y, size_t n);

/// The generic variant of `capg_negscale_narrow_set`, for tests.
int capg_negscale_narrow_set_generic(const double *w, double c, float *y, size_t n);

#endif
