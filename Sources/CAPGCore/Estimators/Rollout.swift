/// One pass through the two-stage system for one context: the ESR samples the ordered
/// candidate list σ by Gumbel-top-K, the LSR picks `a` from S = set(σ), the reward is drawn.
public struct Rollout: Sendable {
    /// The ordered candidate list σ (length min(K, N)).
    public var candidates: [Int]
    /// Position of the chosen item in `candidates`.
    public var chosenPosition: Int
    /// Observed reward r.
    public var reward: Double
    /// The K-th largest perturbed score `v_K` of the Gumbel-top-K draw (nil when unknown):
    /// `e^{−(v_K − max s)}` is the K-th arrival time, a start for the threshold solve.
    public var kthPerturbedScore: Double? = nil
    /// With-replacement rollouts only: how many of the K draws hit `candidates[i]` (the
    /// candidates are the distinct draws in first-draw order; the counts sum to K).
    public var multiplicities: [Int]? = nil

    /// The chosen item a.
    public var chosen: Int { candidates[chosenPosition] }
}

/// Draws rollouts with randomness keyed by `(seed, step, query id, sample index)`, one
/// disjoint stream per purpose (candidate sampling, LSR choice, reward).
public struct RolloutSampler: Sendable {
    public var k: Int
    public var lsr: LateStageRanker
    public var reward: RewardKind

    public init(k: Int, lsr: LateStageRanker, reward: RewardKind) {
        self.k = k; self.lsr = lsr; self.reward = reward
    }

    /// One rollout. Cost: O(N + K log K) for the sampler plus O(K) for the LSR.
    public func sample<Q: RankingQuery>(
        scores: [Double], query: Q, seed: UInt64, step: Int, queryID: Int, sample: Int
    ) -> Rollout {
        var noise = Self.candidateStream(seed: seed, step: step, queryID: queryID, sample: sample)
        let (sigma, kth) = GumbelTopK.sampleWithKey(scores: scores, k: k, stream: &noise)
        return finish(candidates: sigma, kthKey: kth, query: query, seed: seed, step: step, queryID: queryID, sample: sample)
    }

    /// `sample` on a Float score row read in place (`GumbelTopK.sampleWithKey` on the Float
    /// row): bitwise the rollout of `sample` on the widened row, without the widening.
    public func sample<Q: RankingQuery>(
        scores: UnsafeBufferPointer<Float>, query: Q, seed: UInt64, step: Int, queryID: Int, sample: Int
    ) -> Rollout {
        var noise = Self.candidateStream(seed: seed, step: step, queryID: queryID, sample: sample)
        let (sigma, kth) = GumbelTopK.sampleWithKey(scores: scores, k: k, stream: &noise)
        return finish(candidates: sigma, kthKey: kth, query: query, seed: seed, step: step, queryID: queryID, sample: sample)
    }

    /// One rollout whose candidates are K i.i.d. draws from softmax(s) (with replacement;
    /// `SoftmaxWithReplacement`): S is the set of distinct draws, in first-draw order, and
    /// the LSR picks from S as usual. The draws use the same candidate-sampling stream as
    /// `sample`. Cost: O(N + K log N) plus the LSR's O(|S|).
    public func sampleWithReplacement<Q: RankingQuery>(
        scores: [Double], query: Q, seed: UInt64, step: Int, queryID: Int, sample: Int
    ) -> Rollout {
        var noise = Self.candidateStream(seed: seed, step: step, queryID: queryID, sample: sample)
        let draws = SoftmaxWithReplacement.sample(scores: scores, k: k, stream: &noise)
        var rollout = finish(candidates: draws.items, kthKey: -.infinity, query: query, seed: seed, step: step,
                             queryID: queryID, sample: sample)
        rollout.kthPerturbedScore = nil
        rollout.multiplicities = draws.counts
        return rollout
    }

    /// The candidate-sampling noise stream of one rollout (item i's Gumbel noise is its i-th draw).
    public static func candidateStream(seed: UInt64, step: Int, queryID: Int, sample: Int) -> RandomStream {
        RandomStream(RandomKey(seed: seed, purpose: .candidateSampling, step: step, query: queryID, sample: sample))
    }

    /// The rest of a rollout once σ is drawn (by `sample`, or by an item-sharded sampler
    /// whose merged σ is the same): the LSR's pick and the reward, from their own streams.
    /// O(K) plus the LSR's cost.
    public func finish<Q: RankingQuery>(
        candidates sigma: [Int], kthKey kth: Double, query: Q, seed: UInt64, step: Int, queryID: Int, sample: Int
    ) -> Rollout {
        query.prefetch(items: sigma)
        var choice = RandomStream(RandomKey(seed: seed, purpose: .lateStageChoice, step: step, query: queryID, sample: sample))
        let pos = lsr.choose(candidates: sigma, query: query, stream: &choice)
        var rs = RandomStream(RandomKey(seed: seed, purpose: .reward, step: step, query: queryID, sample: sample))
        let r = reward.draw(expected: query.expectedReward(of: sigma[pos]), stream: &rs)
        return Rollout(candidates: sigma, chosenPosition: pos, reward: r, kthPerturbedScore: kth)
    }
}
