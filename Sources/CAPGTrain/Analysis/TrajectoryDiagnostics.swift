import CAPGCore
import Foundation

/// One estimator measured at one point of a training trajectory (`capg diagnose`).
public struct DiagnosticRow: Sendable {
    /// Training step of the parameters (0 = the initialization).
    public var step: Int
    public var estimator: EstimatorKind
    public var inclusion: InclusionModelKind?
    public var k: Int
    /// Mean over the analysis contexts of `tr Cov[ĝ]` (scores) and `tr Cov[Jĝ]` (two-tower
    /// parameters) of one draw (`GradientVariance`).
    public var varianceScores: Double
    public var varianceParams: Double
    /// `tr Cov` in parameter space of the batch-mean gradient over the C analysis contexts,
    /// one draw each: `Σ_c tr Cov_c / C²` (independent contexts: traces add).
    public var varianceBatchParams: Double
    /// Mean over contexts of cos(ḡ_c, ∇V_c), ḡ_c the mean of `draws` estimates.
    public var cosineToExact: Double
    /// cos of the concatenated means to the concatenated exact gradients (contexts weighted
    /// by their gradient norms, as a batch weighs them).
    public var cosinePooled: Double
    /// Pooled signal-to-noise ratio of one draw over the contexts (scores space):
    /// `√(Σ_c max(0, ‖ḡ_c‖² − tr Cov_c/draws)) / √(Σ_c tr Cov_c)`. Pooled rather than a mean of
    /// per-context ratios, which a context with (numerically) zero variance makes unbounded.
    public var snr: Double
    /// Rewarded draws whose estimate vanished (`GradientVariance.isVanishing`), over all
    /// rewarded draws of all contexts.
    public var vanishingFraction: Double
    public var rewardedDraws: Int
    public var vanishedDraws: Int
    /// The vanishing fraction at the looser thresholds 1e-2 and 1e-1 (`extraThresholds`), and
    /// the 10% and 50% quantiles of ‖ĝ‖/|r| over the rewarded draws (nil when none).
    public var vanishingLoose: [Double]
    public var relativeNormP10: Double?
    public var relativeNormMedian: Double?
    /// Mean over contexts of the exact value V(s) and of ‖∇_s V‖ at these parameters.
    public var exactValue: Double
    public var exactGradientNorm: Double
    /// Mean over contexts of `R(top-K of s)`: the value of the *deterministic* ESR (its K
    /// highest scores, no sampling), as the authors' code evaluates (docs/paper-code-check.md).
    public var deterministicValue: Double

    public var json: [String: Any] {
        ["step": step, "estimator": estimator.rawValue, "inclusion": inclusion.map { $0.rawValue as Any } ?? NSNull(),
         "k": k, "variance_scores": varianceScores, "variance_params": varianceParams,
         "variance_batch_params": varianceBatchParams, "cosine_to_exact": cosineToExact,
         "cosine_pooled": cosinePooled, "snr": snr.isFinite ? snr as Any : NSNull(),
         "vanishing_fraction": vanishingFraction, "rewarded_draws": rewardedDraws, "vanished_draws": vanishedDraws,
         "vanishing_fraction_1e-2": vanishingLoose[0], "vanishing_fraction_1e-1": vanishingLoose[1],
         "relative_norm_p10": relativeNormP10 ?? NSNull(), "relative_norm_median": relativeNormMedian ?? NSNull(),
         "exact_value": exactValue, "exact_gradient_norm": exactGradientNorm,
         "deterministic_value": deterministicValue]
    }
}

/// An estimator to measure: its kind and, for CA-PG, the inclusion model.
public struct DiagnosedEstimator: Sendable, Equatable {
    public var kind: EstimatorKind
    public var inclusion: InclusionModelKind

    public init(kind: EstimatorKind, inclusion: InclusionModelKind = .threshold) {
        self.kind = kind; self.inclusion = inclusion
    }

    /// `vpg`, `capg` (the default inclusion) or `capg:prefix` (`KIND[:INCLUSION]`).
    public init(parsing token: String, defaultInclusion: InclusionModelKind) throws {
        let parts = token.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
        guard let kind = EstimatorKind(rawValue: parts[0]), kind != .distill else {
            throw ConfigError.invalid("estimator '\(token)' is not one of \(EstimatorKind.allCases.filter { $0 != .distill }.map(\.rawValue).joined(separator: ", ")) (optionally capg:INCLUSION)")
        }
        var inclusion = defaultInclusion
        if parts.count == 2 {
            guard kind == .capg, let inc = InclusionModelKind(rawValue: parts[1]) else {
                throw ConfigError.invalid("estimator '\(token)': only capg takes an inclusion model, one of \(InclusionModelKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            inclusion = inc
        }
        self.init(kind: kind, inclusion: inclusion)
    }
}

/// Gradient diagnostics at points of a training trajectory (issue 15, item 4). At the
/// parameters θ_t of a checkpoint, on the first `contexts` evaluation contexts of the run's
/// task (a world small enough for exact enumeration, N!/(N−K)! ≤ 200,000), for each
/// estimator: `GradientVariance.measure` over `draws` independent draws per context (keys
/// `(seed, draw, context)`, the same at every checkpoint: common random numbers), against
/// the exact gradient `ExactGradient.compute`. Estimators are built as the trainer builds
/// them (`config.baseline` and `config.samples` for V-PG and V-PG-SwR, one sample for the
/// others). Cost per checkpoint: contexts × (N·N!/(N−K)! + estimators × draws × O(N + K log K)).
public struct TrajectoryDiagnostics {
    public var estimators: [DiagnosedEstimator]
    public var draws: Int
    public var contexts: Int
    public var seed: UInt64
    public var vanishingThreshold: Double

    public static let maxPrefixes = 200_000
    /// Looser thresholds reported beside `vanishingThreshold`.
    public static let extraThresholds = [1e-2, 1e-1]

    /// The q-quantile (0 ≤ q ≤ 1) of `xs` by the nearest-rank rule on the sorted values; nil
    /// when empty.
    public static func quantile(_ xs: [Double], _ q: Double) -> Double? {
        guard !xs.isEmpty else { return nil }
        let s = xs.sorted()
        let i = Swift.min(s.count - 1, Swift.max(0, Int((q * Double(s.count)).rounded(.up)) - 1))
        return s[i]
    }

    public init(estimators: [DiagnosedEstimator], draws: Int, contexts: Int, seed: UInt64,
                vanishingThreshold: Double = GradientVariance.defaultVanishingThreshold) {
        self.estimators = estimators; self.draws = draws; self.contexts = contexts; self.seed = seed
        self.vanishingThreshold = vanishingThreshold
    }

    /// The two-tower task of `config` (synthetic or paper world); other data are refused.
    public static func task(config: TrainingConfig) throws -> any ContextTwoTowerTask {
        switch config.data {
        case .paper: return PaperTask(config: config)
        case .synthetic: return SyntheticTask(config: config)
        default: throw ConfigError.invalid("capg diagnose measures the two-tower tasks (data synthetic or paper), not \(config.data.rawValue)")
        }
    }

    /// Rows for every estimator at `parameters` (the task's layout), labelled `step`.
    public func measure(config: TrainingConfig, task: any ContextTwoTowerTask, parameters: [Float], step: Int) throws -> [DiagnosticRow] {
        guard draws >= 2 else { throw ConfigError.invalid("draws must be ≥ 2 to estimate a variance (got \(draws))") }
        guard contexts >= 1 else { throw ConfigError.invalid("contexts must be ≥ 1 (got \(contexts))") }
        let shape = config.shape
        let n = shape.items, d = shape.embeddingDim, k = config.k
        guard k >= 1 && k <= n else { throw ConfigError.invalid("k=\(k) must be in 1...\(n)") }
        guard PrefixEnumeration.count(n: n, k: k) <= Self.maxPrefixes else {
            throw ConfigError.invalid("exact gradient needs N!/(N−K)! ≤ \(Self.maxPrefixes) ordered prefixes (N = \(n), K = \(k)); train the trajectory on a smaller world (--items)")
        }
        guard parameters.count == task.parameterCount else {
            throw ConfigError.invalid("\(parameters.count) parameters for a task of \(task.parameterCount)")
        }
        let lsr = LateStageRanker(temperature: config.lateStageTemperature)
        let ids = Array(0..<contexts)
        let batch = task.forward(parameters: parameters, ids: ids, evaluation: true)
        let e = Array(parameters[shape.eOffset..<shape.eOffset + shape.eCount])
        // The forward pass saves [X (C×dx) | U (C×d)] (as `VarianceExperiment` reads it).
        let uOffset = contexts * shape.contextDim
        let scoreRows = (0..<contexts).map { c in batch.range(c).map { Double(batch.scores[$0]) } }
        let users = (0..<contexts).map { c in (0..<d).map { Double(batch.saved[uOffset + c * d + $0]) } }
        let queries = batch.queries
        var exact = [ExactGradient.Result]()
        for c in 0..<contexts {
            exact.append(ExactGradient.compute(scores: scoreRows[c], query: queries[c], k: k, lsr: lsr))
        }
        let exactValue = exact.reduce(0) { $0 + $1.value } / Double(contexts)
        let exactNorm = exact.reduce(0) { acc, r in acc + r.gradient.reduce(0) { $0 + $1 * $1 }.squareRoot() } / Double(contexts)
        let pooledReference = exact.flatMap(\.gradient)
        var deterministicSum = 0.0
        for c in 0..<contexts {
            let query = queries[c]
            deterministicSum += lsr.setValue(candidates: GumbelTopK.topK(scoreRows[c], k: k), query: query)
        }
        let deterministicValue = deterministicSum / Double(contexts)
        let sampler = RolloutSampler(k: k, lsr: lsr, reward: config.reward)
        var rows = [DiagnosticRow]()
        for spec in estimators {
            let vanilla = spec.kind == .vpg || spec.kind == .vpgSwr
            let est = try PolicyGradientEstimator(kind: spec.kind, inclusion: spec.inclusion,
                                                  baseline: vanilla ? config.baseline : .none,
                                                  samples: vanilla ? config.samples : 1, sampler: sampler,
                                                  swrCandidates: config.swrCandidates)
            var vs = 0.0, vp = 0.0, cos = 0.0, signal = 0.0
            var rewarded = 0, vanished = 0
            var relative = [Double]()
            var pooledMean = [Double]()
            pooledMean.reserveCapacity(contexts * n)
            for c in 0..<contexts {
                let m = GradientVariance.measure(
                    estimator: est, scores: scoreRows[c], query: queries[c], queryID: c, seed: seed, draws: draws,
                    reference: exact[c].gradient, user: users[c], context: task.contextQuery(id: c, evaluation: true).context,
                    itemEmbeddings: e, embeddingDim: d, vanishingThreshold: vanishingThreshold)
                vs += m.varianceScores; vp += m.varianceParams; cos += m.cosineToReference
                signal += Swift.max(0, m.mean.reduce(0) { $0 + $1 * $1 } - m.varianceScores / Double(draws))
                rewarded += m.rewardedDraws; vanished += m.vanishedDraws
                relative += m.relativeNorms
                pooledMean.append(contentsOf: m.mean)
            }
            let cc = Double(contexts)
            rows.append(DiagnosticRow(
                step: step, estimator: spec.kind, inclusion: spec.kind == .capg ? spec.inclusion : nil, k: k,
                varianceScores: vs / cc, varianceParams: vp / cc, varianceBatchParams: vp / (cc * cc),
                cosineToExact: cos / cc, cosinePooled: GradientVariance.cosine(pooledMean, pooledReference),
                snr: vs > 0 ? signal.squareRoot() / vs.squareRoot() : .infinity, vanishingFraction: rewarded > 0 ? Double(vanished) / Double(rewarded) : 0,
                rewardedDraws: rewarded, vanishedDraws: vanished,
                vanishingLoose: Self.extraThresholds.map { t in
                    relative.isEmpty ? 0 : Double(relative.filter { $0 <= t }.count) / Double(relative.count)
                },
                relativeNormP10: Self.quantile(relative, 0.1), relativeNormMedian: Self.quantile(relative, 0.5),
                exactValue: exactValue, exactGradientNorm: exactNorm, deterministicValue: deterministicValue))
        }
        return rows
    }
}
