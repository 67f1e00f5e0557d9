import Foundation

/// The learned late-stage ranker (docs/beyond-capg.md): a linear scorer over the query's LSR features,
///
///   ℓ_φ(x, a) = ⟨φ, ψ(x, a)⟩,   π₂(a | x, S; φ) = exp(ℓ_φ(x,a)/τ₂) / Σ_{b∈S} exp(ℓ_φ(x,b)/τ₂),
///
/// trained by policy gradient on the final reward with
///
///   ∇_φ log π₂(a | S) = (ψ(x, a) − Σ_{b∈S} π₂(b | S) ψ(x, b)) / τ₂.
///
/// It plugs into the rest of the pipeline as a query wrapper (`LearnedLateStageQuery`)
/// whose `lateStageScore` is `ℓ_φ`, so sampling, the estimators, distillation and the
/// evaluation use the learned LSR without knowing about it.
public struct LinearLateStageModel: Sendable, Equatable {
    /// F, the number of weights.
    public let featureCount: Int
    /// τ₂ > 0 (the argmax has no gradient).
    public let temperature: Double

    public init(featureCount: Int, temperature: Double) {
        precondition(featureCount >= 1, "the learned LSR needs at least one feature")
        precondition(temperature > 0, "the learned LSR needs a temperature > 0")
        self.featureCount = featureCount
        self.temperature = temperature
    }

    /// `φ₀ = e_F`: all weight on the fixed LSR's score (the last feature), so training starts
    /// from exactly the fixed LSR.
    public func initialWeights() -> [Float] {
        var w = [Float](repeating: 0, count: featureCount)
        w[featureCount - 1] = 1
        return w
    }

    /// `ℓ_φ(x, a) = ⟨φ, ψ(x, a)⟩`, with ψ written into `scratch` (count ≥ F). O(F).
    public func score(weights: [Float], query: some LateStageFeaturized, item: Int,
                      scratch: UnsafeMutableBufferPointer<Double>) -> Double {
        query.lateStageFeatures(of: item, into: scratch)
        var z = 0.0
        for j in 0..<featureCount { z += Double(weights[j]) * scratch[j] }
        return z
    }

    /// Adds `scale · ∇_φ log π₂(candidates[chosenPosition] | S)` to `gradient` (count F).
    /// Cost O(|S|·F) time, O(|S|·F) scratch.
    public func accumulateLogProbabilityGradient(
        weights: [Float], query: some LateStageFeaturized, candidates: [Int], chosenPosition: Int,
        scale: Double, into gradient: inout [Double]
    ) {
        let f = featureCount, n = candidates.count
        precondition(query.lateStageFeatureCount == f, "query has \(query.lateStageFeatureCount) LSR features, the model \(f)")
        precondition(gradient.count == f && chosenPosition >= 0 && chosenPosition < n)
        var psi = [Double](repeating: 0, count: n * f)
        var logits = [Double](repeating: 0, count: n)
        psi.withUnsafeMutableBufferPointer { p in
            for (i, c) in candidates.enumerated() {
                let row = UnsafeMutableBufferPointer(rebasing: p[i * f..<(i + 1) * f])
                query.lateStageFeatures(of: c, into: row)
                var z = 0.0
                for j in 0..<f { z += Double(weights[j]) * row[j] }
                logits[i] = z / temperature
            }
        }
        let m = logits.max() ?? 0
        var total = 0.0
        for i in 0..<n { logits[i] = Foundation.exp(logits[i] - m); total += logits[i] }
        let c = scale / temperature
        for i in 0..<n {
            let w = (i == chosenPosition ? 1 : 0) - logits[i] / total
            if w == 0 { continue }
            for j in 0..<f { gradient[j] += c * w * psi[i * f + j] }
        }
    }
}

/// A query seen through the learned LSR: `lateStageScore` is `ℓ_φ(x, a)`, the reward is the
/// base query's. Cost O(F) per score.
public struct LearnedLateStageQuery: LateStageFeaturized {
    public let base: any LateStageFeaturized
    public let model: LinearLateStageModel
    public let weights: [Float]

    public init(base: any LateStageFeaturized, model: LinearLateStageModel, weights: [Float]) {
        precondition(weights.count == model.featureCount && base.lateStageFeatureCount == model.featureCount,
                     "learned LSR has \(weights.count) weights, the query \(base.lateStageFeatureCount) features")
        self.base = base; self.model = model; self.weights = weights
    }

    public var itemCount: Int { base.itemCount }
    public func expectedReward(of item: Int) -> Double { base.expectedReward(of: item) }

    public func lateStageScore(of item: Int) -> Double {
        withUnsafeTemporaryAllocation(of: Double.self, capacity: model.featureCount) { scratch in
            model.score(weights: weights, query: base, item: item, scratch: scratch)
        }
    }

    public var lateStageFeatureCount: Int { base.lateStageFeatureCount }
    public func lateStageFeatures(of item: Int, into out: UnsafeMutableBufferPointer<Double>) {
        base.lateStageFeatures(of: item, into: out)
    }
}
