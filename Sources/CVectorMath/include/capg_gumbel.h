#ifndef CAPG_GUMBEL_H
#define CAPG_GUMBEL_H
#include <stddef.h>
#include <stdint.h>

/// The candidates of one chunk of Gumbel-top-K's scan (`GumbelTopK.select`): the items j <
/// count that might enter a heap whose K-th key is `kappa`. Item j has the Philox words
/// words[2j] (high) and words[2j + 1] (low), its uniform u_j = ((w_hi >> 5)·2²⁶ + (w_lo >> 6)
/// + ½)·2⁻⁵³, and the score scores[j]. Bit j mod 64 of mask[j / 64] is set for a candidate;
/// mask must hold ⌈count / 64⌉ words (all are written). Returns the number of candidates.
///
/// Exactness: a cleared bit means the sampler's own table test (`u ≤ table[⌊16δ⌋]`,
/// δ = kappa − s_j, table[m] a lower bound of c((m − 1)/16) with c(δ) = exp(−e^{−δ}))
/// rejects the item, so the caller may skip it without changing any decision. From the
/// high word alone, u < 1 − x with x = z·2⁻²⁷, z = ~w_hi >> 5; with d = min(δ, 30) − 3/16 the
/// item is cleared iff log₂ x ≥ −d·log₂e, evaluated as `bits(float(z)) > ⌊A − B·min(δ, 30)⌋`
/// (bits(f)·2⁻²³ − 127 ≤ log₂ f: the exponent-and-mantissa lower bound of log₂), with
/// A = 2²³(154 + (3/16)·log₂e) + 2, B = 2²³·log₂e (the +2 covers the float rounding of z and
/// the double rounding of the threshold). Then 1 − u > x ≥ e^{−d₀}·e^{1/16} ≥ e^{−d₀} + 2⁻⁴⁸
/// for d₀ = min(δ, 30) − 1/8 ≤ (m − 1)/16 (m the clamped table index), so
/// u < 1 − e^{−d₀} − 2⁻⁴⁸ ≤ c(d₀) − 2⁻⁴⁸ ≤ table[m] (the table is within a few ulps of c).
/// δ ≤ 0 and NaN δ never clear a bit; z = 0 never does either (the cap at 30 keeps the
/// bound above −154 + 30·log₂e). A NaN score may be cleared by the block test below (its
/// perturbed key is NaN, which never enters a full heap).
///
/// Per block of 16 items the same test runs first on the block's smallest z and largest
/// score (the bound is monotone in both), and a rejected block costs no per-item work; a
/// last partial block is tested item by item. AVX2 variant (chosen once per process by
/// CPUID): four blocks at a time, their extrema by lane-wise max and one shared 4×4
/// transpose-reduction, their four thresholds in one vector; the per-item test of a passing
/// block on 8 lanes (the high words by two shuffles, int32 compare of the float bits
/// against thresholds from 4-lane doubles); the last < 4 whole blocks one at a time, with
/// the generic block test and the 8-lane per-item test. Generic variant: the same operations in scalar code, the block maximum of the
/// scores in the same order (per lane l from −∞ over l, l + 4, l + 8, l + 12 with NaN scores
/// skipped, then lanes (0, 1), (2, 3), then the two), no fused multiply-adds: both variants
/// write bitwise the same mask. Cost
/// (AVX2): ≈ 1 vector operation per item for rejected blocks, ≈ 3 more per item of a
/// passing block; ≈ 0.35 ns per item on one EPYC (Zen 3) core, a quarter of the Philox
/// fill of the same items.
size_t capg_gumbel_candidates(const uint32_t *words, const double *scores, size_t count, double kappa,
                              uint64_t *mask);

/// The generic variant of `capg_gumbel_candidates` on every CPU (for tests and comparison).
size_t capg_gumbel_candidates_generic(const uint32_t *words, const double *scores, size_t count, double kappa,
                                      uint64_t *mask);

/// `capg_gumbel_candidates` on a float score row: every score is used as the double it
/// widens to (exactly, in registers: four `vcvtps2pd` per block of 16 in the AVX2 variant),
/// so the mask and the count are bitwise those of the double kernel on the widened row; the
/// row is read at 4 bytes per item and needs no widened copy.
size_t capg_gumbel_candidates_f32(const uint32_t *words, const float *scores, size_t count, double kappa,
                                  uint64_t *mask);

/// The generic variant of `capg_gumbel_candidates_f32` (for tests).
size_t capg_gumbel_candidates_f32_generic(const uint32_t *words, const float *scores, size_t count, double kappa,
                                          uint64_t *mask);

#endif
