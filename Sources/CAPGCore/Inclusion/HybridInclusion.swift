import Foundation

/// Threshold inclusion for the bulk, the exact exponential race for the few items far above
/// the threshold.
///
/// The mean-field race (`ThresholdInclusion`) replaces the random K-th arrival time `T` of
/// the other items by its typical value t*, so `1 − P_a ≈ e^{−w_a t*}`. For an item far
/// above the threshold the exact complement is `1 − P_a = E[e^{−w_a T}]` (Jensen: it is
/// dominated by the early tail of T, not by t*), so the threshold's complement decays
/// double-exponentially in the score gap while the exact one decays only exponentially:
/// at a gap of 4 nats, 2.4e-10 against 5.7e-4, and the top item's credit `∂ log P/∂s_a`
/// is understated by the same ratio (docs/results/inclusion_tail.md).
///
/// An item is *hot* when `x_a = w_a t* > hotCut` (threshold P > 1 − e^{−hotCut} = 0.95); at
/// most K/0.95 items are. A hot item gets the exact race (`ExactInclusion`: P and gradient
/// to ~1e-13), any other the threshold model unchanged, so for cold items this is the
/// threshold model bit for bit and `Σ_a P_a = K` no longer holds exactly (the exact hot
/// values replace the mean-field ones). The switch is discontinuous at `x_a = hotCut` (a
/// jump of the threshold model's error there, ≤ 3% relative in P at K ≥ 2 on the tested cases).
///
/// Cost: O(N) (one threshold solve) for a cold item; for a hot one the exact race's
/// O(N·K·nodes) time and O(N·K) memory (typically 100–500 nodes), so like `exact` it is
/// meant for catalogues up to ~20,000 items (refused above, see `TrainingConfig.validate`).
public struct HybridInclusion: InclusionModel {
    public var kind: InclusionModelKind { .hybrid }

    /// `x_a = w_a t*` above which the exact race replaces the threshold value.
    public var hotCut: Double

    /// O(1).
    public init(hotCut: Double = 3) { self.hotCut = hotCut }

    /// Whether item a is hot under the threshold solution (log x_a > log hotCut).
    func isHot(_ logX: Double) -> Bool { logX > Foundation.log(hotCut) }

    /// Threshold P for cold items, exact P for hot ones. O(N) plus O(N·K·nodes) per hot item.
    public func probabilities(scores: [Double], k: Int) -> [Double] {
        precondition(k >= 1, "k must be at least 1 (got \(k))")
        let n = scores.count
        if k >= n { return [Double](repeating: 1, count: n) }
        let solution = ThresholdInclusion.solve(scores: scores, k: k)
        let exact = ExactInclusion()
        return (0..<n).map { a in
            isHot(solution.logX[a])
                ? Foundation.exp(exact.logProbability(of: a, scores: scores, k: k))
                : -Foundation.expm1(-Foundation.exp(solution.logX[a]))
        }
    }

    /// `1 − P(a ∈ S)` directly where it is small (for the tail table and tests): the
    /// threshold's `e^{−x_a}` for a cold item, `1 − P` from the exact race for a hot one
    /// (absolute error ~1e-15, so relative accuracy holds down to ~1e-12).
    public func complement(of a: Int, scores: [Double], k: Int) -> Double {
        if k >= scores.count { return 0 }
        let solution = ThresholdInclusion.solve(scores: scores, k: k)
        if isHot(solution.logX[a]) {
            return -Foundation.expm1(ExactInclusion().logProbability(of: a, scores: scores, k: k))
        }
        return Foundation.exp(-Foundation.exp(solution.logX[a]))
    }

    /// Adds `scale · ∂ log P_a/∂s_j` of the model that owns item a (exact if hot, threshold
    /// otherwise) and returns `log P_a`. O(N) cold, O(N·K·nodes) hot.
    public func accumulateLogProbabilityGradient(
        of item: Int, scores: [Double], k: Int, scale: Double, into gradient: inout [Double]
    ) -> Double {
        checkGradientArguments(item: item, scores: scores, k: k, gradient: gradient)
        if k >= scores.count { return 0 }
        let solution = ThresholdInclusion.solve(scores: scores, k: k)
        if isHot(solution.logX[item]) {
            return ExactInclusion().accumulateLogProbabilityGradient(of: item, scores: scores, k: k, scale: scale,
                                                                     into: &gradient)
        }
        return ThresholdInclusion().accumulateLogProbabilityGradient(of: item, scores: scores, k: k, scale: scale,
                                                                     into: &gradient)
    }
}
