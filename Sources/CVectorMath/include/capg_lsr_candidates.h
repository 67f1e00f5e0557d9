#ifndef CAPG_LSR_CANDIDATES_H
#define CAPG_LSR_CANDIDATES_H
#include <stddef.h>
#include <stdint.h>

/// The first, bound-only test of the LSR top-K (`SyntheticEnvironment.lateStageTopK`) over
/// one query's tile of items: writes to `out` (capacity ≥ n), in increasing order, the
/// indices i < n with
///
///     sign · z[i] + offset[i] + spread[i] · xn ≥ cut,
///
/// i.e. the items whose score bound can still reach the query's current K-th score; the
/// others are skipped. Returns how many were written. `z` are the GEMM's Float logits, the
/// Double arrays per-item terms the caller precomputes (sign ±1, so multiplying by it is
/// exact). Every term is widened to double and the sum taken left to right without fused
/// multiply-adds, in both variants (AVX2, 4 items per instruction, chosen at run time by
/// CPUID; and a generic loop), which therefore return the same list. Cost: ~5 flops per
/// item; no call, branch or log per item.
size_t capg_lsr_candidates(const float *z, const double *offset, const double *spread, size_t n, double sign,
                           double xn, double cut, int32_t *out);

/// `capg_lsr_candidates` with the logits computed here, for one query against items whose
/// latents are stored transposed: `z[i] = Σ_{j<dx} x[j] · vt[j·ld + i]` in Float (j in
/// increasing order; the AVX2+FMA variant fuses each multiply-add, the generic one rounds
/// both — either is a dx-term Float dot product, within the caller's error bound), written
/// to `z[0..<n]`, then the test above on them. Eight items per AVX2 step: dx broadcast
/// multiply-adds, no horizontal sums; the tile of `vt` is shared by the queries that scan
/// it (cache-resident), and no BLAS call is involved. Cost: 2·dx flops + the test per item.
size_t capg_lsr_candidates_dot(const float *vt, size_t ld, size_t dx, const float *x, const double *offset,
                               const double *spread, size_t n, double sign, double xn, double cut, float *z,
                               int32_t *out);

/// The generic variant of `capg_lsr_candidates_dot` (for tests: the same list up to the
/// rounding of its z).
size_t capg_lsr_candidates_dot_generic(const float *vt, size_t ld, size_t dx, const float *x, const double *offset,
                                       const double *spread, size_t n, double sign, double xn, double cut, float *z,
                                       int32_t *out);

/// The generic variant of `capg_lsr_candidates` (for tests: must return the same list).
size_t capg_lsr_candidates_generic(const float *z, const double *offset, const double *spread, size_t n,
                                   double sign, double xn, double cut, int32_t *out);

#endif
