#ifndef CAPG_VEXP_H
#define CAPG_VEXP_H
#include <stddef.h>

// Module CVectorMath is this directory (an umbrella directory): capg_vexp.h (exp) and
// capg_philox.h (Philox-4x32-10). A header added here reaches Swift only after the clang
// module is rebuilt (editing an existing header, or removing .build/*/ModuleCache, does it).

/// out[i] = exp(x[i] + shift) for i < n, and returns the sum of the out[i].
///
/// Method: e^y = 2^k · e^r with k = round(y / ln 2) and r = y − k ln 2 (two-part ln 2, so
/// |r| ≤ ln2/2 with no cancellation), e^r by its degree-13 Taylor polynomial (truncation
/// < 5e-18 relative), 2^k from the exponent bits. Branch-free, so the loop vectorizes;
/// compiled twice (AVX2+FMA, chosen at run time by CPUID, and baseline x86-64/other).
/// Error ≤ 2 ulp (relative ≤ 4.5e-16) for y in [−708.39, 709.78] (tested against libm);
/// y below that range gives 0 (no subnormals), above gives +inf, NaN gives NaN.
/// Cost: ~30 flops per element; ~4 elements per AVX2 instruction stream.
double capg_exp_shifted(const double *x, double shift, double *out, size_t n);

/// `capg_exp_shifted` on a float row: out[i] = exp((double)x[i] + shift) and their sum,
/// bitwise what `capg_exp_shifted` gives on the widened row (the same loop; the widening
/// is exact and happens in registers), without an N-double copy of x. Same cost per
/// element, half the bytes read.
double capg_exp_shifted_f32(const float *x, double shift, double *out, size_t n);

/// The generic (non-AVX2) variants, for tests that compare float and double input on
/// every code path.
double capg_exp_shifted_generic(const double *x, double shift, double *out, size_t n);
double capg_exp_shifted_f32_generic(const float *x, double shift, double *out, size_t n);

/// Non-zero when the AVX2+FMA variant is in use on this CPU (for the benchmark's report).
int capg_vexp_uses_avx2(void);

#endif
