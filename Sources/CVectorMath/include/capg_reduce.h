#ifndef CAPG_REDUCE_H
#define CAPG_REDUCE_H
#include <stddef.h>

/// Σ_i (double)x_i² over x[0..<n], in a fixed order whatever the CPU variant: item i adds
/// to lane i mod 8 in increasing i, and the result is
/// ((l0 + l1) + (l2 + l3)) + ((l4 + l5) + (l6 + l7)). No fused multiply-adds, so the AVX2 and
/// the generic variant agree bitwise. Differs from a sequential sum at rounding level only
/// (nonnegative terms: relative ≲ n ε). Cost: one pass, 8 items per AVX2 step (a sequential
/// Double sum is one 4-cycle add per item: ~9 ms for 6.5·10⁶ parameters).
double capg_sum_squares_f32(const float *x, size_t n);

/// max_i x[i] over x[0..<n], ignoring NaNs (−∞ when n = 0 or every x_i is NaN): the value
/// of the loop `if x[i] > m { m = x[i] }` from m = −∞ (max is exact, so lanes do not change
/// it; only the sign of a zero maximum may differ). Cost: one pass, 4 items per AVX2 step.
double capg_max_f64(const double *x, size_t n);

/// `capg_max_f64` of a float row, as a double: the same lanes in the same order on the
/// items widened in registers, so bitwise `capg_max_f64` of the widened row (zero sign
/// included), without the widened copy. Cost: one pass, 4 items per AVX2 step.
double capg_max_f32(const float *x, size_t n);

/// The generic variants (for tests).
double capg_sum_squares_f32_generic(const float *x, size_t n);
double capg_max_f64_generic(const double *x, size_t n);
double capg_max_f32_generic(const float *x, size_t n);

#endif
