#ifndef CAPG_THRESHOLD_H
#define CAPG_THRESHOLD_H
#include <stddef.h>
#include <stdint.h>

/// The hot/cold split of the threshold race (`ThresholdHotCold` in CAPGCore): what one pass
/// over the weights w[0..<n] yields.
typedef struct {
    /// S_1 … S_8: moments[m − 1] = Σ_{cold i} w_i^m (cold: w_i ≤ cut, or NaN).
    double moments[8];
    /// Σ_i w_i over every item, summed in `capg_exp_shifted`'s order (eight interleaved
    /// partial sums over the 8-blocks, the n mod 8 tail sequentially, then the partials in
    /// order), so bitwise its return value.
    double sum;
    /// How many indices were written to `hot` (increasing order).
    size_t hot_count;
} capg_threshold_split_result;

/// One pass over w[0..<n]: the indices i with w_i > cut go to hot[0..<hot_count] (capacity
/// ≥ n; only hot_count entries are written), the moments S_m of the others to `out`.
///
/// Summation order (fixed, so the result depends only on the values, never on the pointer
/// alignment, the thread count or the CPU variant): item i adds its powers (v, v² = v·v,
/// v³ = v²·v, v⁴ = v²·v², v⁵ = v⁴·v, v⁶ = v⁴·v², v⁷ = v⁴·v³, v⁸ = v⁴·v⁴; v = 0 for a hot
/// item) to lane i mod 4 in increasing i, and S_m = (lane0 + lane1) + (lane2 + lane3). No
/// fused multiply-adds, so the AVX2 and the generic variant agree bitwise. Differs from a
/// single sequential sum only at rounding level (relative ≲ n ε for these nonnegative
/// terms). Cost: ~16 flops per item, 4 items per AVX2 instruction; a scalar loop per hot
/// 4-block for the index list.
void capg_threshold_split(const double *w, size_t n, double cut, int32_t *hot, capg_threshold_split_result *out);

/// `capg_exp_shifted(x, shift, w, n)` fused with `capg_threshold_split(w, n, cut, hot, out)`
/// chunk by chunk (the chunk's weights are split while still in L1): w, out->sum and the
/// split are bitwise those of the two calls. One pass over x instead of two over w.
void capg_threshold_exp_split(const double *x, double shift, double *w, size_t n, double cut, int32_t *hot,
                              capg_threshold_split_result *out);

/// `capg_threshold_exp_split` on a float row: w[i] = exp((double)x[i] + shift) and the split,
/// bitwise what the double form gives on the widened row (`capg_exp_shifted_f32`), reading
/// 4 bytes per item instead of 8 and needing no widened copy of the row.
void capg_threshold_exp_split_f32(const float *x, double shift, double *w, size_t n, double cut, int32_t *hot,
                                  capg_threshold_split_result *out);

/// g[j] −= c · w_j · e^{−w_j t} for the cold items (w_j ≤ cut) with e^{−x} by the degree-8
/// Taylor polynomial of `ThresholdHotCold.coldExpNeg` (Horner, no fused multiply-adds, so
/// bitwise the Swift scalar form); hot items (w_j > cut) are left for the caller.
/// Branch-free, vectorized. O(n).
void capg_threshold_subtract_cold_decay(const double *w, size_t n, double cut, double t, double c, double *g);

/// `y_j = (float)(0 − c · w_j · e^{−w_j t}) + 0` for every j, the cold items' factor as in
/// `capg_threshold_subtract_cold_decay` and 0 for hot items (w_j > cut): that kernel applied
/// to a zeroed Double row and then narrowed by `capg_narrow_set_clear`, bitwise, in one pass
/// over w (no Double row is read or written). The caller patches the items whose Double row
/// entry was not zero or that are hot. Returns 1 when a narrowed value is NaN or ±∞. O(n).
int capg_threshold_cold_decay_narrow_set(const double *w, size_t n, double cut, double t, double c, float *y);

/// The portable variant of `capg_threshold_cold_decay_narrow_set` (for tests).
int capg_threshold_cold_decay_narrow_set_generic(const double *w, size_t n, double cut, double t, double c, float *y);

/// The portable variant of `capg_threshold_split` (for tests: must agree bitwise).
void capg_threshold_split_generic(const double *w, size_t n, double cut, int32_t *hot,
                                  capg_threshold_split_result *out);

#endif
