/// Parameters of the semi-synthetic OBD environment.
public struct OBDEnvironmentConfig: Sendable, Equatable {
    /// Position at which rewards are evaluated (0-based); `nil` averages the click
    /// probability over all positions (the uniform-random logging policy's slot mix).
    public var position: Int? = nil
    /// LSR score `ℓ(x,a) = q(x,a) + lsrNoise · ε_{x,a}`; click rates are ≈ 0.004, so the
    /// noise should be on that scale (0 is a perfectly aligned LSR).
    public var lsrNoise: Double = 0.001
    public var seed: UInt64 = 1

    public init(position: Int? = nil, lsrNoise: Double = 0.001, seed: UInt64 = 1) {
        self.position = position; self.lsrNoise = lsrNoise; self.seed = seed
    }
}

/// Semi-synthetic environment over the Open Bandit Dataset: contexts are real logged users
/// (one context per logged row), the universe is the N = 80 items, and the reward is the
/// fitted click model's probability `q(x, a) = P̂(click | x, a)`. Faithfulness is that of the
/// click model: real contexts and item features, but rewards are a model's predictions.
public struct OBDEnvironment: Sendable {
    public let log: OBDLog
    public let model: OBDClickModel
    public let config: OBDEnvironmentConfig

    public init(log: OBDLog, model: OBDClickModel, config: OBDEnvironmentConfig) {
        precondition(config.position.map { $0 >= 0 && $0 < log.positionCount } ?? true, "position out of range")
        self.log = log; self.model = model; self.config = config
    }

    /// The query of logged row `row` (context = that user). O(N·p) to precompute q and ℓ.
    public func query(row: Int, evaluation: Bool = false) -> OBDQuery {
        let n = log.itemCount
        var q = [Double](repeating: 0, count: n)
        for a in 0..<n {
            if let p = config.position {
                q[a] = model.probability(log: log, row: row, item: a, position: p)
            } else {
                var t = 0.0
                for p in 0..<log.positionCount { t += model.probability(log: log, row: row, item: a, position: p) }
                q[a] = t / Double(log.positionCount)
            }
        }
        var l = q
        if config.lsrNoise != 0 {
            let key = RandomKey(seed: config.seed, purpose: .lateStageNoise, query: row, sample: evaluation ? 1 : 0)
            for a in 0..<n { l[a] += config.lsrNoise * RandomStream.normal(key: key, index: a) }
        }
        return OBDQuery(row: row, rewards: q, lateStageScores: l)
    }
}

/// One OBD context: the user of a logged row; universe = all items;
/// `q(x,a) = P̂(click)`, `ℓ(x,a) = q(x,a) + σ ε_{x,a}` (precomputed, O(1) per call).
public struct OBDQuery: RankingQuery, Sendable, Equatable {
    public let row: Int
    public let rewards: [Double]
    public let lateStageScores: [Double]
    public var itemCount: Int { rewards.count }
    @inlinable public func expectedReward(of item: Int) -> Double { rewards[item] }
    @inlinable public func lateStageScore(of item: Int) -> Double { lateStageScores[item] }
}
