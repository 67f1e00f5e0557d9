import CVectorMath
import Foundation

/// The hot/cold split of the threshold race's weights `w_i = e^{s_i − max s}` for every
/// threshold `t ≤ bound` (the linear-domain solve of `ThresholdInclusion.fastGradients`,
/// shared with the item-sharded solve in `CAPGParallel`, which applies it per shard).
///
/// Items with `x_i = w_i t ≤ coldCut` for every `t ≤ bound` (i.e. `w_i ≤ cut = coldCut /
/// bound`) are "cold": their terms enter through the moments `S_m = Σ_cold w_i^m`, m = 1…8,
/// since
///
///   Σ_cold (1 − e^{−x_i}) = Σ_{m=1}^{8} (−1)^{m+1} t^m S_m / m!  + R₁,  |R₁| ≤ Σ x_i⁹/9!,
///   Σ_cold x_i e^{−x_i}   = Σ_{m=1}^{8} (−1)^{m−1} t^m S_m / (m−1)! + R₂, |R₂| ≤ Σ x_i⁹/8!,
///
/// so with x ≤ 0.05 the truncation is ≤ 5.4e-18 per item in h (below the rounding of the
/// exact terms; and relative to each item's own `x_i`, so it stays exact when every cold
/// term is tiny) and ≤ 4.9e-17 per item in the Newton slope (which only steers the step).
/// The other ("hot") items — typically a few times K of them — are evaluated exactly by
/// the caller, from the index list the split wrote.
///
/// Cost: the split is one vectorized pass over the weights (no exps; `capg_threshold_split`,
/// AVX2 when the CPU has it), or fused with the exp pass that makes the weights
/// (`withExps`); `coldSums` is O(1).
///
/// Summation order: the moments are summed in four lanes (item i into lane i mod 4, in
/// increasing i) and the lanes as `(l0 + l1) + (l2 + l3)`, with no fused multiply-adds, so
/// they depend on the weights only — not on the pointer alignment, the thread count or the
/// CPU variant. (Before the vectorized kernel they were single sequential sums; the two
/// differ at rounding level, relative ≲ n ε of these nonnegative terms.)
public struct ThresholdHotCold: Sendable {
    /// Largest `x = w t` treated as cold.
    public static let coldCut = 0.05
    /// Callers split for `t ≤ splitFactor · t_start`; an iterate beyond the bound re-splits
    /// (one more pass over the stored weights, no exps).
    public static let splitFactor = 1.5

    /// The split holds for every `t ≤ bound`.
    public let bound: Double
    /// `coldCut / bound`: item i is hot iff `w_i > cut`.
    public let cut: Double
    /// How many hot items the split wrote (the first `hotCount` entries of its `hot` buffer,
    /// in increasing index order).
    public let hotCount: Int
    /// `S_1 … S_8` of the cold weights.
    @usableFromInline let moments: (Double, Double, Double, Double, Double, Double, Double, Double)

    /// Splits `w[0..<n]` for `t ≤ bound`: writes the indices of the hot items (`w_i > cut`)
    /// to `hot` (capacity ≥ n; only the first `hotCount` entries are written) and keeps the
    /// moments of the cold ones. One vectorized pass (`capg_threshold_split`). O(n).
    public init(weights w: UnsafePointer<Double>, count n: Int, bound: Double, hot: UnsafeMutablePointer<Int32>) {
        var result = capg_threshold_split_result()
        capg_threshold_split(w, n, Self.coldCut / bound, hot, &result)
        self.init(bound: bound, result)
    }

    /// `w_i = e^{x_i + shift}` for i < n (bitwise `VectorExp.exp`'s values and sum) fused
    /// with the split of those weights for `t ≤ bound` (as `init(weights:…)`): one pass over
    /// `x` (chunks of the weights are split while in L1) instead of two over `w`. Returns
    /// the split and `Σ_i w_i`. O(n), one vectorized exp per item.
    public static func withExps(_ x: UnsafePointer<Double>, shift: Double, count n: Int, bound: Double,
                                weights w: UnsafeMutablePointer<Double>, hot: UnsafeMutablePointer<Int32>)
        -> (split: ThresholdHotCold, sumWeights: Double)
    {
        exps(x, shift: shift, count: n, bound: bound, weights: w, hot: hot)
    }

    /// `withExps` for either element type (`ScoreElement`: a Float row read in place,
    /// `capg_threshold_exp_split_f32`, gives bitwise what the widened row gives).
    @inline(__always)
    static func exps<S: ScoreElement>(_ x: UnsafePointer<S>, shift: Double, count n: Int, bound: Double,
                                      weights w: UnsafeMutablePointer<Double>, hot: UnsafeMutablePointer<Int32>)
        -> (split: ThresholdHotCold, sumWeights: Double)
    {
        var result = capg_threshold_split_result()
        S.thresholdExpSplit(x, shift: shift, weights: w, count: n, cut: Self.coldCut / bound, hot: hot, result: &result)
        return (ThresholdHotCold(bound: bound, result), result.sum)
    }

    init(bound: Double, _ result: capg_threshold_split_result) {
        self.bound = bound
        cut = Self.coldCut / bound
        hotCount = result.hot_count
        moments = result.moments
    }

    /// `(Σ_cold (1 − e^{−w_i t}), Σ_cold w_i t e^{−w_i t})` from the moments, for `t ≤ bound`.
    /// O(1).
    @inlinable
    public func coldSums(at t: Double) -> (mass: Double, slope: Double) {
        let (m1, m2, m3, m4, m5, m6, m7, m8) = moments
        let t2 = t * t, t3 = t2 * t, t4 = t2 * t2
        let a1 = t * m1, a2 = t2 * m2, a3 = t3 * m3, a4 = t4 * m4
        let a5 = t4 * t * m5, a6 = t4 * t2 * m6, a7 = t4 * t3 * m7, a8 = t4 * t4 * m8
        return (a1 - a2 / 2 + a3 / 6 - a4 / 24 + a5 / 120 - a6 / 720 + a7 / 5040 - a8 / 40320,
                a1 - a2 + a3 / 2 - a4 / 6 + a5 / 24 - a6 / 120 + a7 / 720 - a8 / 5040)
    }

    /// `e^{−x}` for `0 ≤ x ≤ coldCut` by its degree-8 Taylor polynomial: truncation
    /// `x⁹/9! ≤ 5.4e-18`, i.e. within one ulp of the correctly rounded value.
    @inline(__always)
    public static func coldExpNeg(_ x: Double) -> Double {
        1 - x * (1 - x * (0.5 - x * (1.0 / 6 - x * (1.0 / 24 - x * (1.0 / 120 - x * (1.0 / 720
            - x * (1.0 / 5040 - x * (1.0 / 40320))))))))
    }

    /// `e^{−x}` for x ≥ 0 by libm, but 0 without the call where it underflows to 0 anyway
    /// (x ≥ 746: e^{−746} < 2^{−1075}, half the least subnormal, so libm returns 0 there
    /// too; its underflow path is slow: 1.7% of the paper-setting step went there).
    @inline(__always)
    public static func expNeg(_ x: Double) -> Double {
        x >= 746 ? 0 : Foundation.exp(-x)
    }

    /// `gradient[j] −= c · w_j e^{−w_j t}` for every j < n at `t ≤ bound` (the `ψ_j` term of
    /// the threshold gradient, `ψ_j = t · w_j e^{−w_j t}`): the cold items by the polynomial
    /// in one vectorized pass (`capg_threshold_subtract_cold_decay`; hot ones get 0 there), then the hot ones (`hot`: this split's
    /// `hotCount` indices) with an exact exp. O(n) + O(hot) exps.
    public func subtractDecay(scale c: Double, t: Double, weights w: UnsafePointer<Double>, count n: Int,
                              hot: UnsafeBufferPointer<Int32>, from gradient: UnsafeMutablePointer<Double>) {
        precondition(hot.count >= hotCount, "\(hot.count) hot indices, the split has \(hotCount)")
        capg_threshold_subtract_cold_decay(w, n, cut, t, c, gradient)
        for h in 0..<hotCount {
            let j = Int(hot[h])
            let wj = w[j]
            gradient[j] -= c * wj * Self.expNeg(wj * t)
        }
    }

    /// `subtractDecay` followed by `capg_narrow_set_clear(gradient, row)` (what
    /// `RowNarrowing(overwrite: true)` does), bitwise, for a Double row that is zero except at
    /// the indices `nonzero`: `row_j = Float(g_j − c w_j e^{−w_j t}) + 0` and `g` left zero.
    /// Returns true when a narrowed value is NaN or ±∞.
    ///
    /// Why: the two passes read and write the N-long Double row twice (≈ 4.4 MB per row at
    /// N = 10⁵, more than L2); here one pass reads the weights and writes the Float row
    /// (`capg_threshold_cold_decay_narrow_set`, the cold term on a zero entry), then the hot
    /// items and the nonzero entries are redone with the two-pass arithmetic, one entry at a
    /// time: the cold kernel on that single entry, the exact hot term, the narrowing. Cost:
    /// O(n) + O(hot + |nonzero|²) (duplicates in `nonzero` are skipped by a scan of the
    /// earlier ones; the estimator passes its M chosen items).
    public func subtractDecay(scale c: Double, t: Double, weights w: UnsafePointer<Double>, count n: Int,
                              hot: UnsafeBufferPointer<Int32>, from gradient: UnsafeMutablePointer<Double>,
                              nonzero: UnsafeBufferPointer<(item: Int, scale: Double)>,
                              narrowingInto row: UnsafeMutablePointer<Float>) -> Bool {
        precondition(hot.count >= hotCount, "\(hot.count) hot indices, the split has \(hotCount)")
        var nonFinite = capg_threshold_cold_decay_narrow_set(w, n, cut, t, c, row) != 0
        // Entry j as `subtractDecay` and the narrowing leave it: the cold kernel (which
        // subtracts c·w_j·0 from a hot entry), the exact term if hot, then y = Float(g) + 0.
        func redo(_ j: Int) {
            capg_threshold_subtract_cold_decay(w + j, 1, cut, t, c, gradient + j)
            let wj = w[j]
            if wj > cut { gradient[j] -= c * wj * Self.expNeg(wj * t) }
            let f = Float(gradient[j])
            row[j] = f + 0
            if !f.isFinite { nonFinite = true }
            gradient[j] = 0
        }
        for h in 0..<hotCount { redo(Int(hot[h])) }
        for m in nonzero.indices {
            let j = nonzero[m].item
            if w[j] > cut || nonzero[..<m].contains(where: { $0.item == j }) { continue }
            redo(j)
        }
        return nonFinite
    }
}
