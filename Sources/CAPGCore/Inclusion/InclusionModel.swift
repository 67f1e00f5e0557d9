/// Which approximation of the PL top-K inclusion probability `P(a ∈ S)` to use.
public enum InclusionModelKind: String, CaseIterable, Sendable, Codable {
    /// Exponential race, integrated by adaptive quadrature: exact to quadrature tolerance.
    case exact
    /// Mean-field race: one threshold time `t*` shared by all items; O(N).
    case threshold
    /// Independent draws from softmax(s): `1 − (1 − π_a)^K`; O(N).
    case independent
    /// The paper code's heuristic `1 − Π_k (1 − p_k)` with a deterministic prefix
    /// (capg's reading; `PrefixInclusion`); O(N + K log K).
    case prefix
    /// Threshold for the bulk, the exact race for items far above the threshold (the tail
    /// `1 − P` of the top items; `HybridInclusion`).
    case hybrid

    /// The model object for this kind.
    public func makeModel() -> any InclusionModel {
        switch self {
        case .exact: return ExactInclusion()
        case .threshold: return ThresholdInclusion()
        case .independent: return IndependentInclusion()
        case .prefix: return PrefixInclusion()
        case .hybrid: return HybridInclusion()
        }
    }
}

/// The marginal probability that item `a` is in a Plackett-Luce top-K candidate set,
/// `P(a ∈ S) = Σ_{S ∋ a} π_θ(S)`, and the gradient of its logarithm w.r.t. the scores.
///
/// Conventions shared by every model: scores are unnormalized log-weights (shift
/// invariant, so every gradient sums to zero over j); `k ≥ N` means every item is in
/// `S`, so `P = 1` and the gradient is 0.
public protocol InclusionModel: Sendable {
    var kind: InclusionModelKind { get }

    /// `P(a ∈ S)` for every item a.
    func probabilities(scores: [Double], k: Int) -> [Double]

    /// Adds `scale · ∂ log P(a ∈ S)/∂s_j` to `gradient[j]` for every j and returns
    /// `log P(a ∈ S)`.
    func accumulateLogProbabilityGradient(
        of item: Int, scores: [Double], k: Int, scale: Double, into gradient: inout [Double]
    ) -> Double
}

extension InclusionModel {
    /// The argument contract of `accumulateLogProbabilityGradient`, shared by every model:
    /// k ≥ 1, `item` indexes `scores`, and `gradient` has one entry per score.
    @inlinable
    public func checkGradientArguments(item: Int, scores: [Double], k: Int, gradient: [Double]) {
        precondition(k >= 1, "k must be at least 1 (got \(k))")
        precondition(item >= 0 && item < scores.count, "item \(item) out of range 0..<\(scores.count)")
        precondition(gradient.count == scores.count, "gradient has \(gradient.count) entries, scores \(scores.count)")
    }
}
