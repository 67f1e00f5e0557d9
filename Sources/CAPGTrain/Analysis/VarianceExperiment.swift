import CAPGCore
import Foundation

/// One row of `capg variance`: moments averaged over the analysis contexts.
public struct VarianceRow: Sendable {
    public var estimator: EstimatorKind
    public var inclusion: InclusionModelKind?
    public var k: Int
    public var varianceScores: Double
    public var varianceParams: Double
    public var cosineToReference: Double
    public var snr: Double

    public var json: [String: Any] {
        ["estimator": estimator.rawValue, "inclusion": inclusion.map { $0.rawValue as Any } ?? NSNull(), "k": k,
         "variance_scores": varianceScores, "variance_params": varianceParams,
         "cosine_to_reference": cosineToReference, "snr": snr.isFinite ? snr as Any : NSNull()]
    }
}

/// `capg variance`: at the initial parameters of `config` (seed, init scale), for each K
/// and estimator, the gradient moments over `contexts` evaluation contexts with `draws`
/// independent draws each. The reference gradient is exact enumeration when N!/(N−K)! is
/// small, otherwise V-PG with a leave-one-out baseline averaged over `referenceDraws`
/// samples (unbiased; its own noise is reported as `reference_relative_error`).
public struct VarianceExperiment {
    public var config: TrainingConfig
    public var ks: [Int]
    public var estimators: [EstimatorKind]
    public var draws: Int
    public var contexts: Int
    public var referenceDraws: Int

    public init(config: TrainingConfig, ks: [Int], estimators: [EstimatorKind], draws: Int, contexts: Int, referenceDraws: Int) {
        self.config = config; self.ks = ks; self.estimators = estimators
        self.draws = draws; self.contexts = contexts; self.referenceDraws = referenceDraws
    }

    public func run(progress: ((String) -> Void)? = nil) throws -> [VarianceRow] {
        let task = SyntheticTask(config: config)
        let params = task.initialParameters()
        let shape = config.shape
        let e = Array(params[shape.eOffset..<shape.eOffset + shape.eCount])
        let lsr = LateStageRanker(temperature: config.lateStageTemperature)
        let queries = (0..<contexts).map { task.environment.query(id: $0, evaluation: true) }
        // Scores and user vectors u = Wx of the analysis queries: one forward pass of the task
        // (its saved buffer is [X (B×dx) | U (B×d)]), converted to Double rows once.
        let batch = task.forward(parameters: params, ids: Array(0..<contexts), evaluation: true)
        let n = shape.items, d = shape.embeddingDim, uOffset = contexts * shape.contextDim
        let scoreRows = (0..<contexts).map { c in batch.range(c).map { Double(batch.scores[$0]) } }
        let users = (0..<contexts).map { c in (0..<d).map { Double(batch.saved[uOffset + c * d + $0]) } }
        var rows = [VarianceRow]()
        for k in ks {
            guard k >= 1 && k <= n else { throw ConfigError.invalid("k=\(k) must be in 1...\(n) (items)") }
            let sampler = RolloutSampler(k: k, lsr: lsr, reward: config.reward)
            var refs = [[Double]]()
            for (c, q) in queries.enumerated() {
                let row = scoreRows[c]
                if PrefixEnumeration.count(n: n, k: k) <= 200_000 {
                    refs.append(ExactGradient.compute(scores: row, query: q, k: k, lsr: lsr).gradient)
                } else {
                    let ref = try PolicyGradientEstimator(kind: .vpg, baseline: .loo, samples: referenceDraws, sampler: sampler)
                    var g = [Double](repeating: 0, count: n)
                    ref.accumulate(scores: row, query: q, seed: config.seed &+ 0x5EED, step: 0, queryID: c, scale: 1, into: &g)
                    refs.append(g)
                }
            }
            for kind in estimators {
                let est = try PolicyGradientEstimator(kind: kind, inclusion: config.inclusion,
                                                      baseline: kind == .vpg ? config.baseline : .none,
                                                      samples: kind == .vpg ? config.samples : 1, sampler: sampler,
                                                      swrCandidates: config.swrCandidates)
                var acc = (vs: 0.0, vp: 0.0, cos: 0.0, snr: 0.0)
                for (c, q) in queries.enumerated() {
                    let m = GradientVariance.measure(
                        estimator: est, scores: scoreRows[c], query: q, queryID: c, seed: config.seed, draws: draws,
                        reference: refs[c], user: users[c],
                        context: q.context, itemEmbeddings: e, embeddingDim: d)
                    acc.vs += m.varianceScores; acc.vp += m.varianceParams
                    acc.cos += m.cosineToReference; acc.snr += m.snr
                }
                let c = Double(contexts)
                let r = VarianceRow(estimator: kind, inclusion: kind == .capg ? config.inclusion : nil, k: k,
                                    varianceScores: acc.vs / c, varianceParams: acc.vp / c,
                                    cosineToReference: acc.cos / c, snr: acc.snr / c)
                rows.append(r)
                progress?(String(format: "  k=%d %@ done", k, kind.rawValue))
            }
        }
        return rows
    }
}
