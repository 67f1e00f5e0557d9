/// A query whose (context, item) pairs carry a feature vector ψ(x, a) ∈ ℝ^F, so that a
/// learned late-stage ranker `ℓ_φ(x, a) = ⟨φ, ψ(x, a)⟩` can score them (docs/beyond-capg.md).
///
/// Convention: the last feature is always the fixed LSR's own score ℓ(x, a), so the
/// weights `e_F` reproduce the fixed LSR exactly and a learned LSR starts from it.
public protocol LateStageFeaturized: RankingQuery {
    /// F, the length of ψ.
    var lateStageFeatureCount: Int { get }
    /// Writes ψ(x, a) into `out[0..<F]`. Cost O(F).
    func lateStageFeatures(of item: Int, into out: UnsafeMutableBufferPointer<Double>)
}

extension SyntheticQuery: LateStageFeaturized {
    /// `ψ(x, a) = [x ⊙ v_a (dx values, v_a already scaled by β/√dx), c_a, ℓ(x, a)]`: the
    /// cross features of context and item, the item bias and the fixed LSR score. A linear
    /// LSR with weights `[1,…,1, 1, 0]` scores by the reward's logit `β⟨x, v_a⟩ + c_a`.
    public var lateStageFeatureCount: Int { environment.config.contextDim + 2 }

    public func lateStageFeatures(of item: Int, into out: UnsafeMutableBufferPointer<Double>) {
        let dx = environment.config.contextDim
        for j in 0..<dx { out[j] = Double(environment.latent(item, j)) * context[j] }
        out[dx] = Double(environment.bias(item))
        out[dx + 1] = lateStageScore(of: item)
    }
}

extension LetorQuery: LateStageFeaturized {
    /// `ψ(q, d) = [the document's (standardized) feature row (F values), ℓ(q, d)]`.
    public var lateStageFeatureCount: Int { featureCount + 1 }

    public func lateStageFeatures(of item: Int, into out: UnsafeMutableBufferPointer<Double>) {
        let f = featureCount
        let base = featureRows.startIndex + item * f
        for j in 0..<f { out[j] = Double(featureRows[base + j]) }
        out[f] = lateStageScore(of: item)
    }
}
