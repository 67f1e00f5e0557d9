import CVectorMath
import Foundation

/// Parameters of the embedded synthetic environment (DESIGN §5).
public struct SyntheticConfig: Hashable, Sendable, Codable {
    /// Number of items N.
    public var items: Int = 10_000
    /// Context dimension dx (contexts are `x ~ N(0, I)`).
    public var contextDim: Int = 16
    /// β in `q(x,a) = σ(β⟨x, v_a⟩ + c_a)`: how strongly the context decides the reward.
    public var rewardScale: Double = 1.5
    /// Mean and spread of the item biases `c_a ~ N(mean, std²)` (sets how rare rewards are).
    public var biasMean: Double = -3
    public var biasStd: Double = 0.5
    /// LSR score `ℓ(x,a) = q(x,a) + lsrNoise · ε_{x,a}`: 0 is a perfectly aligned LSR.
    public var lsrNoise: Double = 0.05
    /// α in `ℓ(x,a) = α q(x,a) + lsrNoise · ε_{x,a}`: 1 aligned, 0 an LSR blind to the reward,
    /// < 0 one that prefers bad items (a misaligned LSR for the learned-LSR experiments).
    public var lsrAlignment: Double = 1
    /// Seed of the environment itself (item latents, contexts, LSR noise); separate from
    /// the training seed so that several training seeds see the same problem.
    public var seed: UInt64 = 1

    public init() {}
}

/// The synthetic two-stage environment: item latents `v_a ~ N(0, I/dx)`, biases `c_a`,
///
///   q(x, a) = σ(β ⟨x, v_a⟩ + c_a),   ℓ(x, a) = α q(x, a) + σ_ℓ ε_{x,a},   ε ~ N(0, 1),
///
/// with `ε_{x,a}` a pure function of (environment seed, query id, item) so the LSR is a
/// fixed function of the context. Contexts are generated on demand from the query id,
/// so a rank materializes only its own queries. Memory: N·(dx+1) floats.
public struct SyntheticEnvironment: Sendable {
    public let config: SyntheticConfig
    /// The items whose latents and biases are held in memory (all N by default; an item
    /// shard's range in item-sharded training). Any other item's are regenerated on demand,
    /// bitwise equal: they are normal number `i·dx + j` (latent) and `N·dx + i` (bias) of the
    /// environment stream, i.e. its Philox blocks, reachable by random access.
    public let storedItems: Range<Int>
    /// Item latents of `storedItems`, row-major (count × dx), already multiplied by β.
    @usableFromInline let latents: [Float]
    @usableFromInline let biases: [Float]

    public init(config: SyntheticConfig, storedItems: Range<Int>? = nil) {
        self.config = config
        let n = config.items, dx = config.contextDim
        let range = storedItems ?? 0..<n
        self.storedItems = range
        let key = RandomKey(seed: config.seed, purpose: .environment)
        let scale = config.rewardScale / Double(dx).squareRoot()
        // Normal i of the environment stream: latent i (item-major) for i < N·dx, then bias
        // i − N·dx; a stored range draws only its own slices.
        var v = [Float](repeating: 0, count: range.count * dx)
        var c = [Float](repeating: 0, count: range.count)
        v.withUnsafeMutableBufferPointer { b in
            guard let p = b.baseAddress else { return }
            RandomStream.fillScaledNormals(key: key, first: range.lowerBound * dx, count: b.count, scale: scale,
                                           threads: GEMM.threads, into: p)
        }
        c.withUnsafeMutableBufferPointer { b in
            RandomStream.forEachNormal(key: key, first: n * dx + range.lowerBound, count: b.count) { i, z in
                b[i] = Float(config.biasMean + config.biasStd * z)
            }
        }
        latents = v
        biases = c
    }

    /// Latent j of `item` (β-scaled): stored, or regenerated in O(1).
    @inlinable
    public func latent(_ item: Int, _ j: Int) -> Float {
        let dx = config.contextDim
        if storedItems.contains(item) { return latents[(item - storedItems.lowerBound) * dx + j] }
        let scale = config.rewardScale / Double(dx).squareRoot()
        return Float(RandomStream.normal(key: RandomKey(seed: config.seed, purpose: .environment), index: item * dx + j) * scale)
    }

    /// The bias `c_a` of `item`: stored, or regenerated in O(1).
    @inlinable
    public func bias(_ item: Int) -> Float {
        if storedItems.contains(item) { return biases[item - storedItems.lowerBound] }
        let index = config.items * config.contextDim + item
        return Float(config.biasMean + config.biasStd * RandomStream.normal(key: RandomKey(seed: config.seed, purpose: .environment), index: index))
    }

    /// The context `x ~ N(0, I_dx)` of a training (or evaluation) query id.
    public func context(query: Int, evaluation: Bool = false) -> [Double] {
        var stream = RandomStream(RandomKey(
            seed: config.seed, purpose: evaluation ? .evaluationContext : .context, query: query))
        return (0..<config.contextDim).map { _ in stream.normal() }
    }

    /// The query object for a context.
    public func query(id: Int, evaluation: Bool = false) -> SyntheticQuery {
        SyntheticQuery(environment: self, id: id, evaluation: evaluation,
                       context: context(query: id, evaluation: evaluation))
    }
}

/// One synthetic context; `q` and `ℓ` are computed on demand in O(dx) per item.
public struct SyntheticQuery: RankingQuery, Sendable {
    public let environment: SyntheticEnvironment
    public let id: Int
    public let evaluation: Bool
    public let context: [Double]

    public var itemCount: Int { environment.config.items }

    @inlinable
    public func expectedReward(of item: Int) -> Double {
        let dx = environment.config.contextDim
        let stored = environment.storedItems
        guard stored.contains(item) else {
            // An item outside this rank's stored shard: regenerated (O(dx) Philox blocks).
            var z = Double(environment.bias(item))
            for j in 0..<dx { z += Double(environment.latent(item, j)) * context[j] }
            return 1 / (1 + Foundation.exp(-z))
        }
        var z = Double(environment.biases[item - stored.lowerBound])
        environment.latents.withUnsafeBufferPointer { v in
            let row = (item - stored.lowerBound) * dx
            for j in 0..<dx { z += Double(v[row + j]) * context[j] }
        }
        return 1 / (1 + Foundation.exp(-z))
    }

    /// Starts loading the latent rows and biases of the stored `items`: the LSR then reads
    /// K rows scattered over an N × dx table (6.4 MB at N = 10⁵), and one miss after another
    /// cost ≈ 35 µs per query (perf: 1.8 % of the reference step). O(K).
    public func prefetch(items: [Int]) {
        let dx = environment.config.contextDim
        let stored = environment.storedItems
        environment.latents.withUnsafeBufferPointer { v in
            environment.biases.withUnsafeBufferPointer { b in
                guard let v = v.baseAddress, let b = b.baseAddress else { return }
                for item in items where stored.contains(item) {
                    let local = item - stored.lowerBound
                    capg_prefetch(b + local)
                    // One hint per 64-byte line of the row (16 floats).
                    for j in stride(from: 0, to: dx, by: 16) { capg_prefetch(v + local * dx + j) }
                    capg_prefetch(v + local * dx + dx - 1)
                }
            }
        }
    }

    public func lateStageScore(of item: Int) -> Double {
        let sigma = environment.config.lsrNoise
        let q = environment.config.lsrAlignment * expectedReward(of: item)
        if sigma == 0 { return q }
        // Random access: the item-th block of this query's noise stream gives one normal.
        return q + sigma * RandomStream.normal(key: lateStageNoiseKey, index: item)
    }

    /// The argmax of `lateStageScore` over `candidates` (the first of equals), without the
    /// log and cos of the noise `ε_a` of a candidate that cannot win: with
    /// `B_a ≥ |ε_a|` from its Philox block's leading zeros
    /// (`RandomStream.normalMagnitudeBound`), `ℓ_a = fl(αq_a + fl(σε_a))` is at most
    /// `fl(αq_a + fl(|σ|B_a))` (rounding is monotone), so a candidate whose bound is below
    /// the best score so far is skipped, and the position is the full loop's. The block is
    /// drawn once and, when the bound does not rule the candidate out, gives `ε_a` itself.
    ///
    /// Why: the rollout's LSR step scores all K candidates, and their normals (a log and a
    /// cos each) were about a third of its cost (perf); with σ = 0.05 many candidates' q is
    /// far enough below the best one's. Cost: K expected rewards and Philox blocks, plus a
    /// log and a cos for each candidate not ruled out.
    public func lateStageArgmax(of candidates: [Int]) -> Int {
        let sigma = environment.config.lsrNoise
        let alpha = environment.config.lsrAlignment
        let noiseKey = lateStageNoiseKey
        let spread = Swift.abs(sigma)
        var best = 0
        var bestScore = -Double.infinity
        for (i, c) in candidates.enumerated() {
            let q = alpha * expectedReward(of: c)
            var v = q  // `lateStageScore` without noise (σ = 0)
            if sigma != 0 {
                // `RandomStream.normal(key:index:)`'s block, read here once.
                let w = RandomStream.normalBlock(key: noiseKey, index: c)
                let bound = RandomStream.normalMagnitudeBound(leadingZeros: w[0].leadingZeroBitCount)
                if q + spread * bound < bestScore { continue }
                v = q + sigma * RandomStream.boxMuller(w[0], w[1], w[2], w[3])
            }
            if v > bestScore { bestScore = v; best = i }
        }
        return best
    }

    /// The stream of this query's LSR noise: `ε_{x,a}` is its normal number a.
    public var lateStageNoiseKey: RandomKey {
        RandomKey(seed: environment.config.seed, purpose: .lateStageNoise, query: id, sample: evaluation ? 1 : 0)
    }
}
