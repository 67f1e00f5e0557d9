import Foundation

/// Per-context summary of what an estimate saw.
public struct EstimateStats: Sendable {
    public var rewardSum: Double = 0
    public var samples: Int = 0
    public init() {}
}

/// Errors in estimator configuration.
public enum EstimatorError: Error, CustomStringConvertible, Equatable {
    case looNeedsTwoSamples(Int)
    case nonPositiveK(Int)
    case nonPositiveSamples(Int)

    public var description: String {
        switch self {
        case .looNeedsTwoSamples(let m):
            return "baseline 'loo' needs at least 2 samples per context (got samples=\(m)); use --samples 2 or more, or --baseline mean"
        case .nonPositiveK(let k): return "k must be ≥ 1 (got \(k))"
        case .nonPositiveSamples(let m): return "samples per context must be ≥ 1 (got \(m))"
        }
    }
}

/// A policy-gradient estimate of `∇_s V` for one context from M rollouts, w.r.t. the
/// ESR score vector `s` (the trainer back-propagates it into the parameters):
///
/// - V-PG:  ĝ = (1/M) Σ_m (r_m − b_m) ∇_s log π(σ_m)
/// - CA-PG: ĝ = (1/M) Σ_m r_m ∇_s log P(a_m ∈ S_m)            (inclusion model chosen)
/// - top-K: ĝ = (1/M) Σ_m r_m λ_K(a_m) (e_{a_m} − softmax(s)),  λ_K(a) = K(1−π_a)^{K−1}
/// - distill: ĝ = (1/M) Σ_m (π₂(·|S_m) − softmax_{S_m}(s)) on S_m (not a policy gradient: the
///   on-policy distillation baseline, see `Distillation`)
///
/// Cost per sample: O(N + K log K) for sampling plus O(N) for V-PG, top-K and threshold /
/// independent CA-PG, O(N·K·nodes) for exact CA-PG.
public struct PolicyGradientEstimator: Sendable {
    public var kind: EstimatorKind
    public var inclusion: InclusionModelKind
    public var baseline: BaselineKind
    public var samples: Int
    public var sampler: RolloutSampler

    public init(kind: EstimatorKind, inclusion: InclusionModelKind = .threshold, baseline: BaselineKind = .none,
                samples: Int = 1, sampler: RolloutSampler) throws {
        guard samples >= 1 else { throw EstimatorError.nonPositiveSamples(samples) }
        guard sampler.k >= 1 else { throw EstimatorError.nonPositiveK(sampler.k) }
        if kind == .vpg && baseline == .loo && samples < 2 { throw EstimatorError.looNeedsTwoSamples(samples) }
        self.kind = kind; self.inclusion = inclusion; self.baseline = baseline
        self.samples = samples; self.sampler = sampler
    }

    /// Adds `scale · ĝ` to `gradient` (length N) for the context `query` with scores `s`.
    /// `runningBaseline` is used by `BaselineKind.mean`.
    @discardableResult
    public func accumulate<Q: RankingQuery>(
        scores s: [Double], query: Q, seed: UInt64, step: Int, queryID: Int,
        runningBaseline: Double = 0, scale: Double, into gradient: inout [Double]
    ) -> EstimateStats {
        var stats = EstimateStats()
        let rollouts = (0..<samples).map {
            sampler.sample(scores: s, query: query, seed: seed, step: step, queryID: queryID, sample: $0)
        }
        let total = rollouts.reduce(0) { $0 + $1.reward }
        stats.rewardSum = total
        stats.samples = samples
        let perSample = scale / Double(samples)
        switch kind {
        case .vpg:
            for r in rollouts {
                let b: Double
                switch baseline {
                case .none: b = 0
                case .mean: b = runningBaseline
                case .loo: b = (total - r.reward) / Double(samples - 1)
                }
                let adv = r.reward - b
                if adv == 0 { continue }
                PlackettLuce.accumulateLogProbabilityGradient(
                    scores: s, prefix: r.candidates, scale: perSample * adv, into: &gradient)
            }
        case .capg:
            let model = inclusion.makeModel()
            for r in rollouts where r.reward != 0 {
                _ = model.accumulateLogProbabilityGradient(
                    of: r.chosen, scores: s, k: sampler.k, scale: perSample * r.reward, into: &gradient)
            }
        case .distill:
            for r in rollouts {
                let target = sampler.lsr.probabilities(candidates: r.candidates, query: query)
                Distillation.accumulate(scores: s, candidates: r.candidates, target: target,
                                        scale: perSample, into: &gradient)
            }
        case .topk:
            var pi: [Double]? = nil
            for r in rollouts where r.reward != 0 {
                if pi == nil { pi = StableMath.softmax(s) }
                TopKCorrection.accumulate(of: r.chosen, softmax: pi!, k: sampler.k,
                                          scale: perSample * r.reward, into: &gradient)
            }
        }
        return stats
    }
}

/// The top-K correction factor and gradient (Chen et al., WSDM 2019, on-policy form).
public enum TopKCorrection {
    /// `λ_K(a) = K (1 − π_a)^{K−1}`.
    public static func lambda(pi: Double, k: Int) -> Double {
        Double(k) * Foundation.exp(Double(k - 1) * Foundation.log1p(-pi))
    }

    /// Adds `scale · λ_K(a) · ∇_s log π_a = scale · λ_K(a) (e_a − π)` to `gradient`; O(N).
    public static func accumulate(of a: Int, softmax pi: [Double], k: Int, scale: Double, into gradient: inout [Double]) {
        let c = scale * lambda(pi: pi[a], k: k)
        gradient.withUnsafeMutableBufferPointer { g in
            for j in pi.indices { g[j] -= c * pi[j] }
        }
        gradient[a] += c
    }
}
