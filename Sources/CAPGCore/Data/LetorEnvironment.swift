/// How the fixed late-stage ranker of a LETOR environment scores a query's documents:
///
///   ℓ_d = α · base_d + σ · ε_{q,d},   ε ~ N(0, 1)   (α = `alignment`, 1 by default),
///
/// with `ε_{q,d}` a pure function of (environment seed, query ordinal, document index), so
/// the LSR is a fixed function of the query whatever the rank count (as in
/// `SyntheticQuery`). σ is the alignment knob: σ = 0 is an LSR that ranks by the truth.
public enum LetorLateStageModel: Sendable, Equatable {
    /// `base_d = rel_d`, the document's graded relevance label.
    case relevance(noise: Double)
    /// `base_d = ⟨w, φ_d⟩ + b`, a user-supplied linear ranker over the (possibly
    /// standardized) feature rows stored in the dataset.
    case linear(weights: [Float], bias: Float, noise: Double)

    public var noise: Double {
        switch self {
        case .relevance(let s), .linear(_, _, let s): return s
        }
    }
}

/// Parameters of a LETOR environment (DESIGN §5).
public struct LetorEnvironmentConfig: Sendable, Equatable {
    /// `max_rel` of the reward `(2^rel − 1)/(2^max_rel − 1)` (or `rel/max_rel`, see `gain`);
    /// 4 for MSLR-WEB, Yahoo, Istella. Fixed by the data set, not by a shard, so every rank
    /// computes the same rewards.
    public var maxRelevance: Double = 4
    /// How a label becomes a reward (`LabelGain`).
    public var gain: LabelGain = .exp2
    public var lateStage: LetorLateStageModel = .relevance(noise: 0.5)
    /// Seed of the LSR noise (separate from the training seed).
    public var seed: UInt64 = 1
    /// α in `ℓ_d = α · base_d + σ ε`: 1 ranks by the base score, 0 ignores it (a misaligned LSR).
    public var alignment: Double = 1

    public init(maxRelevance: Double = 4, gain: LabelGain = .exp2, lateStage: LetorLateStageModel = .relevance(noise: 0.5),
                seed: UInt64 = 1, alignment: Double = 1) {
        self.maxRelevance = maxRelevance; self.gain = gain; self.lateStage = lateStage; self.seed = seed
        self.alignment = alignment
    }
}

public enum LetorEnvironmentError: Error, CustomStringConvertible, Equatable {
    case labelAboveMaximum(qid: String, label: Float, maxRelevance: Double)
    case lateStageWeightCount(got: Int, featureCount: Int)
    case invalidMaxRelevance(Double)

    public var description: String {
        switch self {
        case .labelAboveMaximum(let qid, let l, let m):
            return "query \(qid) has relevance label \(LabelText.format(Double(l))) above the configured maximum \(LabelText.format(m)); raise it (--max-label \(LabelText.format(Double(l))), config key max_label) or fix the data"
        case .lateStageWeightCount(let g, let f):
            return "the late-stage linear model has \(g) weights but the data has \(f) features; supply exactly \(f)"
        case .invalidMaxRelevance(let m):
            return "the maximum label must be in (0, 1000] (--max-label, config key max_label), got \(LabelText.format(m))"
        }
    }
}

/// A LETOR data set as an environment: each query's documents are its candidate universe,
/// rewards are graded gains, and a fixed LSR scores documents (see `LetorLateStageModel`).
/// Holds the shard by value (copy-on-write arrays: making queries copies nothing).
public struct LetorEnvironment: Sendable {
    public let dataset: LetorDataset
    public let config: LetorEnvironmentConfig
    /// Checks every label against `maxRelevance` (O(D)) and the LSR weights against F.
    public init(dataset: LetorDataset, config: LetorEnvironmentConfig) throws {
        // 1000 keeps 2^max finite; larger maxima are not graded relevance any more.
        guard config.maxRelevance > 0 && config.maxRelevance <= 1000 else {
            throw LetorEnvironmentError.invalidMaxRelevance(config.maxRelevance)
        }
        for q in 0..<dataset.queryCount {
            for d in dataset.documents(of: q) where Double(dataset.labels[d]) > config.maxRelevance || dataset.labels[d] < 0 {
                throw LetorEnvironmentError.labelAboveMaximum(qid: dataset.qids[q], label: dataset.labels[d],
                                                              maxRelevance: config.maxRelevance)
            }
        }
        if case .linear(let w, _, _) = config.lateStage, w.count != dataset.featureCount {
            throw LetorEnvironmentError.lateStageWeightCount(got: w.count, featureCount: dataset.featureCount)
        }
        self.dataset = dataset
        self.config = config
    }

    public var queryCount: Int { dataset.queryCount }

    /// The `RankingQuery` of the shard's `index`-th query. `evaluation` selects a separate
    /// LSR-noise stream for a held-out file (whose ordinals overlap the training file's).
    /// Cost O(n_q) (O(n_q·F) for a linear LSR): the LSR scores and gains are precomputed
    /// so that the per-item calls of the estimators are O(1).
    public func query(at index: Int, evaluation: Bool = false) -> LetorQuery {
        let docs = dataset.documents(of: index)
        let n = docs.count
        var gains = [Double](repeating: 0, count: n)
        var lsr = [Double](repeating: 0, count: n)
        for (i, d) in docs.enumerated() {
            gains[i] = config.gain.reward(Double(dataset.labels[d]), max: config.maxRelevance)
        }
        switch config.lateStage {
        case .relevance:
            for (i, d) in docs.enumerated() { lsr[i] = config.alignment * Double(dataset.labels[d]) }
        case .linear(let w, let b, _):
            let f = dataset.featureCount
            dataset.withFeatures(of: index) { x in
                for i in 0..<n {
                    var z = Double(b)
                    for j in 0..<f { z += Double(w[j]) * Double(x[i * f + j]) }
                    lsr[i] = config.alignment * z
                }
            }
        }
        let sigma = config.lateStage.noise
        if sigma != 0 {
            let key = RandomKey(seed: config.seed, purpose: .lateStageNoise,
                                query: dataset.queryOrdinals[index], sample: evaluation ? 1 : 0)
            for i in 0..<n { lsr[i] += sigma * RandomStream.normal(key: key, index: i) }
        }
        return LetorQuery(index: index, ordinal: dataset.queryOrdinals[index], qid: dataset.qids[index],
                          labels: Array(dataset.labels(of: index)), gains: gains, lateStageScores: lsr,
                          featureRows: dataset.features[docs.lowerBound * dataset.featureCount ..< docs.upperBound * dataset.featureCount],
                          featureCount: dataset.featureCount)
    }
}

/// One LETOR query as the trainer sees it: its `n_q` documents are the universe,
///
///   q(x, d) = (2^rel_d − 1)/(2^max_rel − 1)  (or rel_d/max_rel),   ℓ(x, d) = base_d + σ ε_{q,d}.
///
/// All O(1) per call (precomputed by `LetorEnvironment.query(at:)`).
public struct LetorQuery: RankingQuery, Sendable, Equatable {
    /// Index of the query in its shard (`LetorDataset` row block).
    public let index: Int
    /// The query's ordinal in its file (rank-count independent; key for random streams).
    public let ordinal: Int
    public let qid: String
    public let labels: [Float]
    public let gains: [Double]
    public let lateStageScores: [Double]
    /// The documents' feature rows (`n_q × F`, a slice of the shard: no copy), for a learned LSR.
    public let featureRows: ArraySlice<Float>
    public let featureCount: Int

    public var itemCount: Int { labels.count }
    @inlinable public func expectedReward(of item: Int) -> Double { gains[item] }
    @inlinable public func lateStageScore(of item: Int) -> Double { lateStageScores[item] }
}
