#ifndef CAPG_NORMALS_H
#define CAPG_NORMALS_H
#include <stddef.h>
#include <stdint.h>

/// Box–Muller normals rounded to Float, bitwise the libm path of `RandomStream.normal`
/// (`Float(z * scale)` with `z = √(−2 log u₁) · cos(2π u₂)` from libm's log and cos), for
/// blocks i < n of Philox words (`words[4i … 4i+3]`, as `RandomStream.boxMuller` reads them).
///
/// Each value is computed with this file's own branch-free log and cos (vectorized), whose
/// distance to libm's is bounded: the log by 1e-14 relative (2·atanh series to s²¹ on the
/// mantissa reduced to [√½, √2), truncation < 1e-17; plus libm's ≤ 1 ulp), the cos by 1e-15
/// absolute (Cody–Waite reduction by π/2 exact for 2π u₂ ≤ 2π, Taylor to x¹⁸ / x¹⁷ on
/// |x| ≤ π/4, truncation < 2e-19; plus libm's ≤ 1 ulp), so with r = √(−2 log u₁) the
/// product differs from libm's `z · scale` by at most |scale|·r·1.3e-14 (rounding of the
/// sqrt and both products included). The kernel takes Δ = |scale|·r·1e-11, 700 times that:
/// when `(float)(v − Δ) == (float)(v + Δ)` libm's value lies in the interval and rounds to
/// the same Float (rounding is monotone), which is written to `out[i]`. Otherwise (or when
/// r = 0: u₁ rounds to 1 for the largest m, and libm's zero takes its sign from the cos) the block
/// index goes to `undecided` (increasing order) and `out[i]` is left for the caller, who
/// computes it through libm: ≈ 3·10⁻⁴/|cos| of the draws, ≈ 0.3% on average.
/// Returns the number of undecided blocks. Compiled twice (AVX2+FMA, chosen at run time by
/// CPUID, and baseline); the variants may differ in which blocks they leave undecided, never
/// in a value written. Cost: ~80 flops per normal, 4 per AVX2 instruction; no libm call.
size_t capg_scaled_normals(const uint32_t *words, size_t n, double scale, float *out, int32_t *undecided);

/// The baseline variant of `capg_scaled_normals` (for tests).
size_t capg_scaled_normals_generic(const uint32_t *words, size_t n, double scale, float *out, int32_t *undecided);

#endif
