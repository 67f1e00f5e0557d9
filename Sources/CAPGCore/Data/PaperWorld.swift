import Foundation

/// How the paper world's fixed LSR relates to the reward (issue 15's "LSR optimality").
public enum LSROptimality: String, CaseIterable, Sendable, Codable {
    /// ℓ(x, a) = q(x, a): the LSR ranks by expected reward.
    case optimal
    /// ℓ(x, a) = q(x, a) + σ_ℓ ε_{x,a}, ε ~ N(0, 1) fixed per (user, item), σ_ℓ = `lsr_noise`.
    case noisy
    /// ℓ(x, a) = 0: no preference; the run's LSR is then a softmax at temperature 1, a
    /// uniform pick from S (`TrainingConfig.lateStageTemperature`).
    case uniform
    /// ℓ(x, a) = −q(x, a): the LSR prefers the worst candidate.
    case anti
}

/// Parameters of the paper's simulated world (Kiyohara et al., as summarized in issue 15).
public struct PaperWorldConfig: Hashable, Sendable, Codable {
    public var users: Int
    public var items: Int
    /// Dimension of the user and item embeddings (10 in the paper).
    public var dim: Int
    /// β in `q = σ(β ⟨u_x, v_a⟩)` (10 in the paper).
    public var rewardScale: Double
    public var optimality: LSROptimality
    /// σ_ℓ of the `noisy` LSR (ignored by the other levels).
    public var lsrNoise: Double
    public var seed: UInt64

    public init(users: Int = 1000, items: Int = 1000, dim: Int = 10, rewardScale: Double = 10,
                optimality: LSROptimality = .optimal, lsrNoise: Double = 0.05, seed: UInt64 = 1) {
        self.users = users; self.items = items; self.dim = dim; self.rewardScale = rewardScale
        self.optimality = optimality; self.lsrNoise = lsrNoise; self.seed = seed
    }
}

/// The paper's world in capg's reading (issue 15 gives the sizes and the scale, not the
/// distributions; what follows is capg's choice. Compared with the authors' code in
/// docs/paper-code-check.md: the sizes and scale match; their reward has a per-request latent
/// and Gaussian noise, their embeddings are U[−1, 1]^d normalized):
///
/// - U discrete users and N items with embeddings `u_x, v_a` uniform on the unit sphere of
///   R^d (a standard normal vector divided by its norm), so `⟨u_x, v_a⟩ ∈ [−1, 1]` with
///   standard deviation `1/√d` (0.32 at d = 10);
/// - reward `r ~ Bernoulli(q(x, a))`, `q(x, a) = σ(β ⟨u_x, v_a⟩)` with β = 10 ("reward scaled by
///   10"): logits in [−10, 10], spread ≈ 3.2, so a user has both clearly good and clearly bad
///   items (the logistic link keeps q a probability, as capg's rewards are);
/// - LSR scores by `LSROptimality` (optimal / noisy / uniform / anti), ε fixed per (user, item);
/// - the context of query id q is the embedding of user `q mod U`: training and evaluation
///   query the same users (the world has no others).
///
/// The ESR is capg's two-tower model over the user embedding, `s_a = ⟨W u_x, e_a⟩ + b_a`: with
/// d_ESR ≥ d it contains the reward's own ranking (W = I, e_a = β v_a), so it can be optimal.
/// Memory: (U + N)·d floats.
public struct PaperWorld: Sendable {
    public let config: PaperWorldConfig
    @usableFromInline let userEmbeddings: [Double]
    @usableFromInline let itemEmbeddings: [Double]

    /// Draws the embeddings from the environment stream of `config.seed`: users' first,
    /// then items'. O((U + N)·d).
    public init(config: PaperWorldConfig) {
        self.config = config
        var stream = RandomStream(RandomKey(seed: config.seed, purpose: .environment))
        func sphere(_ count: Int) -> [Double] {
            var out = [Double](repeating: 0, count: count * config.dim)
            for r in 0..<count {
                var norm = 0.0
                for j in 0..<config.dim {
                    let z = stream.normal()
                    out[r * config.dim + j] = z
                    norm += z * z
                }
                let inv = 1 / Swift.max(norm.squareRoot(), 1e-300)
                for j in 0..<config.dim { out[r * config.dim + j] *= inv }
            }
            return out
        }
        userEmbeddings = sphere(config.users)
        itemEmbeddings = sphere(config.items)
    }

    /// The user of query id q.
    public func user(query: Int) -> Int { query % config.users }

    /// `u_x` of the user of query id q (the ESR's context).
    public func context(query: Int) -> [Double] {
        let u = user(query: query), d = config.dim
        return Array(userEmbeddings[u * d..<(u + 1) * d])
    }

    /// The query object for a query id (training and evaluation ids map to the same users).
    public func query(id: Int, evaluation: Bool = false) -> PaperQuery {
        PaperQuery(world: self, id: id, user: user(query: id), evaluation: evaluation)
    }
}

/// One query of the paper world: a user; q and ℓ in O(d) per item.
public struct PaperQuery: RankingQuery, Sendable {
    public let world: PaperWorld
    public let id: Int
    public let user: Int
    public let evaluation: Bool

    public var itemCount: Int { world.config.items }

    /// The user embedding (the ESR's context).
    public var context: [Double] { world.context(query: id) }

    /// `q(x, a) = σ(β ⟨u_x, v_a⟩)`.
    @inlinable
    public func expectedReward(of item: Int) -> Double {
        let d = world.config.dim
        var z = 0.0
        for j in 0..<d { z += world.userEmbeddings[user * d + j] * world.itemEmbeddings[item * d + j] }
        return 1 / (1 + Foundation.exp(-world.config.rewardScale * z))
    }

    /// ℓ(x, a) by `LSROptimality`; the noise of `noisy` is keyed by (seed, user, item), so the
    /// LSR is a fixed function of the user.
    public func lateStageScore(of item: Int) -> Double {
        switch world.config.optimality {
        case .optimal: return expectedReward(of: item)
        case .anti: return -expectedReward(of: item)
        case .uniform: return 0
        case .noisy:
            let key = RandomKey(seed: world.config.seed, purpose: .lateStageNoise, query: user, sample: 0)
            return expectedReward(of: item) + world.config.lsrNoise * RandomStream.normal(key: key, index: item)
        }
    }
}
