import Foundation

/// Sums of evaluation quantities over a set of contexts (sums, so ranks can allreduce them).
public struct EvaluationSums: Sendable, Equatable {
    /// Σ over contexts of the policy value `E_S[R(S)]`.
    public var value: Double = 0
    /// Σ over contexts of the recall `P(favourite ∈ S)`.
    public var recall: Double = 0
    /// Number of contexts.
    public var count: Double = 0
    public init() {}
    public init(value: Double, recall: Double, count: Double) { self.value = value; self.recall = recall; self.count = count }

    public static func + (a: Self, b: Self) -> Self {
        Self(value: a.value + b.value, recall: a.recall + b.recall, count: a.count + b.count)
    }
}

/// Evaluation of an ESR policy on fixed contexts with fixed seeds:
///
/// - value `V = E_x E_{S~π_θ} R(S)`, `R(S) = Σ_{a∈S} π₂(a|S) q(x,a)`;
/// - recall `E_x P(a*(x) ∈ S)` of the LSR's favourite item `a*(x) = argmax_a ℓ(x,a)`;
/// - the same value for a uniformly random ESR (all scores equal) and for the oracle ESR,
///   which keeps the top-K items by LSR score (so it always includes `a*`), giving the
///   normalized value `(V − V_random)/(V_oracle − V_random)`.
///
/// The expectation over S is exact for K = 1 (a softmax, O(N)) and by enumeration of
/// prefixes when N!/(N−K)! ≤ `exactLimit`, otherwise a Monte-Carlo mean over `samples` Gumbel-top-K draws whose
/// noise is the same at every evaluation (common random numbers: curves are smooth and
/// two policies are compared on the same draws). Cost per context: O(samples·(N + K log K)).
public struct PolicyEvaluator: Sendable {
    public var k: Int
    public var lsr: LateStageRanker
    public var samples: Int
    public var seed: UInt64
    public static let exactLimit = 50_000

    public init(k: Int, lsr: LateStageRanker, samples: Int, seed: UInt64) {
        self.k = k; self.lsr = lsr; self.samples = samples; self.seed = seed
    }

    /// How `evaluate` computes the expectation over S for N items.
    public enum Method: Equatable, Sendable {
        /// K = 1: `P(S = {a}) = softmax(s)_a`, one O(N) pass (exact).
        case softmax
        /// Every ordered prefix, each with its PL probability (O(N) each): exact.
        case enumeration(prefixes: Int)
        /// `samples` Gumbel-top-K draws.
        case monteCarlo(samples: Int)

        /// Work per context in item visits: N for softmax, prefixes · N for enumeration,
        /// samples · N for Monte Carlo. K = 1 used to enumerate its N prefixes at O(N)
        /// each (N² visits: 4·10⁶ at N = 2000, 45 s for 3 steps where K = 2 took 0.4 s).
        public func itemVisits(n: Int) -> Int {
            switch self {
            case .softmax: return n
            case .enumeration(let p): return p.multipliedReportingOverflow(by: n).overflow ? Int.max : p * n
            case .monteCarlo(let m): return m.multipliedReportingOverflow(by: n).overflow ? Int.max : m * n
            }
        }
    }

    /// The method `evaluate` uses for N items. O(K).
    public func method(itemCount n: Int) -> Method {
        if k == 1 { return .softmax }
        let prefixes = PrefixEnumeration.count(n: n, k: k)
        return prefixes <= Self.exactLimit ? .enumeration(prefixes: prefixes) : .monteCarlo(samples: samples)
    }

    /// Value and recall of one context with ESR scores `s`; `favourite` is `a*(x)`.
    public func evaluate<Q: RankingQuery>(scores s: [Double], query: Q, queryID: Int, favourite: Int) -> EvaluationSums {
        let n = s.count
        switch method(itemCount: n) {
        case .softmax:
            // V = Σ_a softmax(s)_a R({a}); recall = softmax(s)_{a*}.
            let p = StableMath.softmax(s)
            var v = 0.0
            // π₂(a|{a}) = 1, so R({a}) = q(x,a): what `setValue` returns for a one-item set,
            // without its two arrays per item (half the K = 1 evaluation time).
            for a in 0..<n where p[a] > 0 { v += p[a] * query.expectedReward(of: a) }
            return EvaluationSums(value: v, recall: p[favourite], count: 1)
        case .enumeration:
            var v = 0.0, rec = 0.0
            PrefixEnumeration.forEach(n: n, k: k) { sigma in
                let p = Foundation.exp(PlackettLuce.logProbability(scores: s, prefix: sigma))
                v += p * lsr.setValue(candidates: sigma, query: query)
                if sigma.contains(favourite) { rec += p }
            }
            return EvaluationSums(value: v, recall: rec, count: 1)
        case .monteCarlo:
            break
        }
        return monteCarlo(draws: samples, query: query, queryID: queryID, favourite: favourite) { noise in
            GumbelTopK.sample(scores: s, k: k, stream: &noise)
        }
    }

    /// True when `evaluate` needs the whole score row at once for N items (enumeration or the
    /// K = 1 softmax; Monte Carlo needs only Gumbel-top-K draws, which an item-sharded row can make).
    public func needsWholeRow(items n: Int) -> Bool {
        if case .monteCarlo = method(itemCount: n) { return false }
        return true
    }

    /// The Gumbel noise of Monte-Carlo sample m of an evaluation context (the same at every
    /// evaluation: common random numbers).
    public func noiseStream(queryID: Int, sample m: Int) -> RandomStream {
        RandomStream(RandomKey(seed: seed, purpose: .evaluationSampling, query: queryID, sample: m))
    }

    /// Monte-Carlo draws per context of `randomBaseline`, as a multiple of `samples`.
    public static let randomBaselineSampleFactor = 16

    /// The value of the uniformly random ESR on one context: `evaluate` with all scores equal.
    /// Exact (softmax, enumeration) where `evaluate` is; otherwise a mean over
    /// `randomBaselineSampleFactor · samples` uniformly random K-subsets (`UniformSubset`, the
    /// distribution of Gumbel-top-K on equal scores), at O(K) each instead of O(N): at
    /// N = 10⁶ the Gumbel draws over all items cost seconds of start-up for a quantity that
    /// does not depend on the scores. The extra draws (K rewards each) make up for the common
    /// random numbers the policy's evaluation no longer shares with it: the baseline's
    /// Monte-Carlo error is 1/4 of the policy value's. O(16·samples·K) per context.
    public func randomBaseline<Q: RankingQuery>(query: Q, queryID: Int, favourite: Int) -> EvaluationSums {
        let n = query.itemCount
        guard case .monteCarlo = method(itemCount: n) else {
            return evaluate(scores: [Double](repeating: 0, count: n), query: query, queryID: queryID, favourite: favourite)
        }
        return monteCarlo(draws: Self.randomBaselineSampleFactor * samples, query: query, queryID: queryID,
                          favourite: favourite) { noise in
            UniformSubset.sample(n: n, k: k, stream: &noise)
        }
    }

    /// The mean set value and recall over `draws` candidate sets, set m drawn by `draw` from
    /// sample m's noise stream (`noiseStream`). O(draws · (cost of a draw + K)).
    func monteCarlo<Q: RankingQuery>(draws: Int, query: Q, queryID: Int, favourite: Int,
                                     _ draw: (inout RandomStream) -> [Int]) -> EvaluationSums {
        var v = 0.0, rec = 0.0
        for m in 0..<draws {
            var noise = noiseStream(queryID: queryID, sample: m)
            let set = draw(&noise)
            v += lsr.setValue(candidates: set, query: query)
            if set.contains(favourite) { rec += 1 }
        }
        return EvaluationSums(value: v / Double(draws), recall: rec / Double(draws), count: 1)
    }

    /// The value of the oracle ESR (top-K by LSR score) on one context; recall is 1.
    public func oracle<Q: RankingQuery>(query: Q) -> EvaluationSums {
        oracle(query: query, topK: LateStageTopK.plain(query: query, k: k))
    }

    /// The oracle's value from its candidate set, the query's top-K items by LSR score
    /// (`LateStageTopK`, which finds them for many queries at once). O(K).
    public func oracle<Q: RankingQuery>(query: Q, topK top: [Int]) -> EvaluationSums {
        EvaluationSums(value: lsr.setValue(candidates: top, query: query), recall: 1, count: 1)
    }
}
