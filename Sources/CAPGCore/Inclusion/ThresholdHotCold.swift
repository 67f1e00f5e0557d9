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
/// Cost: the split is one branch-free pass over the weights (no exps); `coldSums` is O(1).
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
    /// to `hot` (capacity ≥ n) and keeps the moments of the cold ones. One branch-free
    /// pass, no calls (so the eight accumulators stay in registers). O(n).
    public init(weights w: UnsafePointer<Double>, count n: Int, bound: Double, hot: UnsafeMutablePointer<Int32>) {
        let cut = Self.coldCut / bound
        var count = 0
        var m1 = 0.0, m2 = 0.0, m3 = 0.0, m4 = 0.0, m5 = 0.0, m6 = 0.0, m7 = 0.0, m8 = 0.0
        for i in 0..<n {
            let wi = w[i]
            let isHot = wi > cut
            hot[count] = Int32(truncatingIfNeeded: i)
            count += isHot ? 1 : 0
            let v = isHot ? 0 : wi
            let v2 = v * v, v3 = v2 * v, v4 = v2 * v2
            m1 += v; m2 += v2; m3 += v3; m4 += v4; m5 += v4 * v; m6 += v4 * v2; m7 += v4 * v3; m8 += v4 * v4
        }
        self.bound = bound
        self.cut = cut
        hotCount = count
        moments = (m1, m2, m3, m4, m5, m6, m7, m8)
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

    /// `gradient[j] −= c · w_j e^{−w_j t}` for every j < n at `t ≤ bound` (the `ψ_j` term of
    /// the threshold gradient, `ψ_j = t · w_j e^{−w_j t}`): the cold items by the polynomial
    /// in one branch-free pass (hot ones get 0 there), then the hot ones (`hot`: this split's
    /// `hotCount` indices) with an exact exp. O(n) + O(hot) exps.
    public func subtractDecay(scale c: Double, t: Double, weights w: UnsafePointer<Double>, count n: Int,
                              hot: UnsafeBufferPointer<Int32>, from gradient: UnsafeMutablePointer<Double>) {
        precondition(hot.count >= hotCount, "\(hot.count) hot indices, the split has \(hotCount)")
        let cut = self.cut
        for j in 0..<n {
            let wj = w[j]
            let e = wj > cut ? 0 : Self.coldExpNeg(wj * t)
            gradient[j] -= c * wj * e
        }
        for h in 0..<hotCount {
            let j = Int(hot[h])
            let wj = w[j]
            gradient[j] -= c * wj * Foundation.exp(-wj * t)
        }
    }
}
