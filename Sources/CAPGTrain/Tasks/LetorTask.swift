import CAPGCore

/// LETOR/SVMlight data (MSLR-WEB, Yahoo LTR, Istella): each query's documents are its
/// candidate universe (sizes vary per query), reward is the graded gain of the chosen
/// document `(2^rel − 1)/(2^max_label − 1)` (or `rel/max_label`, config `gain`), the LSR ranks by relevance plus noise
/// (`lsr_noise`), and the ESR is a linear model or a one-hidden-layer MLP over the
/// (standardized) document features.
///
/// Sharding: query ordinal q (its position in the file) lives on rank `q mod P`, which reads
/// and keeps only its own queries. The global batch of step t is the ordinals
/// `(t·B + j) mod Q`, j < B; rank r serves those with `q mod P = r`, so the union over ranks
/// does not depend on P (per-rank counts differ by at most one or two; B need not be
/// divisible by P). Evaluation covers every query of the held-out file.
public final class LetorTask: TrainingTask {
    public let config: TrainingConfig
    public let train: LetorEnvironment
    public let test: LetorEnvironment
    /// Queries in the whole training file (all ranks).
    public let trainQueryTotal: Int
    public let scorer: any DocumentScorer
    private let trainIndex: [Int: Int]
    private let testIndex: [Int: Int]

    /// The standardization applied to both shards (moments of the whole training file).
    public let standardizer: FeatureStandardizer

    /// `train` and `test` are this rank's shards, already standardized with `standardizer`.
    public init(config: TrainingConfig, train: LetorDataset, trainQueryTotal: Int, test: LetorDataset,
                standardizer: FeatureStandardizer) throws {
        precondition(standardizer.mean.count == config.features && standardizer.inverseStd.count == config.features,
                     "the standardizer must have one entry per feature")
        self.config = config
        self.standardizer = standardizer
        let envConfig = LetorEnvironmentConfig(maxRelevance: config.maxLabel, gain: config.gain, lateStage: .relevance(noise: config.lsrNoise), seed: config.envSeed,
                                               alignment: config.lsrAlignment)
        self.train = try LetorEnvironment(dataset: train, config: envConfig)
        self.test = try LetorEnvironment(dataset: test, config: envConfig)
        self.trainQueryTotal = trainQueryTotal
        scorer = config.hidden > 0 ? MLPESR(featureCount: config.features, hidden: config.hidden)
                                   : LinearESR(featureCount: config.features)
        trainIndex = Dictionary(uniqueKeysWithValues: train.queryOrdinals.enumerated().map { ($1, $0) })
        testIndex = Dictionary(uniqueKeysWithValues: test.queryOrdinals.enumerated().map { ($1, $0) })
    }

    public var tensors: [ParameterTensor] { config.esrParameterTensors }

    /// `feature_mean` and `feature_inv_std` (`TrainingConfig.dataTensorShapes`).
    public var dataTensors: [TrainerState.Buffer] {
        [TrainerState.Buffer(name: "feature_mean", values: standardizer.mean),
         TrainerState.Buffer(name: "feature_inv_std", values: standardizer.inverseStd)]
    }

    public func initialParameters() -> [Float] { scorer.initialParameters(seed: config.seed, initScale: config.initScale) }

    public func localBatch(step: Int, rank: Int, size: Int) -> [Int] {
        let b = config.batchSize
        return (0..<b).map { (step * b + $0) % trainQueryTotal }.filter { $0 % size == rank }
    }

    public func evaluationIDs(rank: Int, size: Int) -> [Int] { test.dataset.queryOrdinals }

    /// Shard index of query ordinal `id` (the sharding rule guarantees it is local).
    private func localIndex(_ id: Int, evaluation: Bool) -> Int {
        guard let q = (evaluation ? testIndex : trainIndex)[id] else {
            preconditionFailure("query ordinal \(id) is not in this rank's shard (sharding rule violated)")
        }
        return q
    }

    public func queries(ids: [Int], evaluation: Bool) -> [any RankingQuery] {
        let env = evaluation ? test : train
        return ids.map { env.query(at: localIndex($0, evaluation: evaluation), evaluation: evaluation) }
    }

    public func forward(parameters: [Float], ids: [Int], evaluation: Bool) -> ScoredBatch {
        let env = evaluation ? test : train
        var offsets = [0], queries = [any RankingQuery](), saved = [Float](), scores = [Float]()
        for id in ids {
            let q = localIndex(id, evaluation: evaluation)
            let n = env.dataset.documentCount(of: q)
            queries.append(env.query(at: q, evaluation: evaluation))
            let start = scores.count, aStart = saved.count
            scores.append(contentsOf: repeatElement(0, count: n))
            saved.append(contentsOf: repeatElement(0, count: scorer.activationCount(documents: n)))
            parameters.withUnsafeBufferPointer { p in
                env.dataset.withFeatures(of: q) { x in
                    scores.withUnsafeMutableBufferPointer { s in
                        saved.withUnsafeMutableBufferPointer { a in
                            scorer.forward(parameters: p, features: x, documents: n,
                                           scores: UnsafeMutableBufferPointer(rebasing: s[start..<start + n]),
                                           activations: UnsafeMutableBufferPointer(rebasing: a[aStart..<a.count]))
                        }
                    }
                }
            }
            offsets.append(scores.count)
        }
        return ScoredBatch(ids: ids, queries: queries, offsets: offsets, scores: scores, saved: saved)
    }

    public func backward(parameters: [Float], batch: ScoredBatch, scoreGradient: [Float], into gradient: inout [Float]) {
        var saved = batch.saved
        var aStart = 0
        for (r, id) in batch.ids.enumerated() {
            let q = localIndex(id, evaluation: false)
            let range = batch.range(r)
            let n = range.count
            let aCount = scorer.activationCount(documents: n)
            parameters.withUnsafeBufferPointer { p in
                train.dataset.withFeatures(of: q) { x in
                    scoreGradient.withUnsafeBufferPointer { g in
                        saved.withUnsafeMutableBufferPointer { a in
                            gradient.withUnsafeMutableBufferPointer { out in
                                scorer.backward(parameters: p, features: x, documents: n,
                                                scoreGradient: UnsafeBufferPointer(rebasing: g[range]),
                                                activations: UnsafeMutableBufferPointer(rebasing: a[aStart..<aStart + aCount]),
                                                gradient: out)
                            }
                        }
                    }
                }
            }
            aStart += aCount
        }
    }

    public func ndcg(scores: [Double], query: any RankingQuery, k: Int) -> Double? {
        guard let q = query as? LetorQuery else { return nil }
        return RankingMetrics.ndcg(scores: scores, labels: q.labels, k: k, gain: config.gain)
    }
}
