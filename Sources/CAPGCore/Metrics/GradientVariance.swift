import Foundation

/// Moments of a stochastic gradient estimator at fixed parameters, for one context.
public struct GradientMoments: Sendable {
    /// `tr Cov[ĝ]` w.r.t. the scores s (N coordinates).
    public var varianceScores: Double
    /// `tr Cov[J ĝ]` w.r.t. the two-tower parameters, J the Jacobian `∂s/∂θ`.
    public var varianceParams: Double
    /// `cos(ḡ, g_ref)` of the sample mean to a reference gradient (scores space).
    public var cosineToReference: Double
    /// `‖E ĝ‖ / √tr Cov[ĝ]`: signal-to-noise ratio of a single draw (scores space), with
    /// `‖E ĝ‖² ≈ max(0, ‖ḡ‖² − tr Cov/draws)` (bias-corrected; 0 when the signal is unresolved).
    public var snr: Double
    /// The sample mean ḡ.
    public var mean: [Double]
    /// Draws whose mean reward r̄ (over the draw's M rollouts) is nonzero: the draws that
    /// have credit to assign.
    public var rewardedDraws: Int = 0
    /// Rewarded draws whose estimate vanished: `‖ĝ‖₂ ≤ τ·|r̄|` (`GradientVariance.isVanishing`).
    public var vanishedDraws: Int = 0
    /// `‖ĝ‖₂ / |r̄|` of every rewarded draw, in draw order (the vanishing test at any τ).
    public var relativeNorms: [Double] = []

    /// `vanishedDraws / rewardedDraws` (0 when no draw was rewarded).
    public var vanishingFraction: Double {
        rewardedDraws > 0 ? Double(vanishedDraws) / Double(rewardedDraws) : 0
    }
}

/// Measures estimator variance by repeated independent draws at fixed parameters.
///
/// For the two-tower ESR, `s_i = ⟨Wx, e_i⟩ + b_i`, the parameter gradient of a score
/// gradient δ is `(∂W, ∂E, ∂b) = ((Eᵀδ) xᵀ, δ uᵀ, δ)` with `u = Wx`, so
///
///   ‖J δ‖² = ‖δ‖² (‖u‖² + 1) + ‖Eᵀδ‖² ‖x‖²,
///
/// which is computed exactly per draw in O(N·d) without forming the parameter gradient.
/// Cost: `draws` estimator calls plus O(draws·N·d).
public enum GradientVariance {
    /// Default τ of the vanishing-credit test: the estimate's norm below 1e-3 of the reward.
    public static let defaultVanishingThreshold = 1e-3

    /// `cos(a, b) = ⟨a, b⟩ / (‖a‖ ‖b‖)`, 0 when either vector is zero. O(n).
    public static func cosine(_ a: [Double], _ b: [Double]) -> Double {
        precondition(a.count == b.count, "cosine of vectors of lengths \(a.count) and \(b.count)")
        var dot = 0.0, na = 0.0, nb = 0.0
        for i in 0..<a.count { dot += a[i] * b[i]; na += a[i] * a[i]; nb += b[i] * b[i] }
        return (na > 0 && nb > 0) ? dot / (na.squareRoot() * nb.squareRoot()) : 0
    }

    /// Vanishing credit of one draw: the draw had a reward to assign (`r̄ ≠ 0`, the mean
    /// reward of its rollouts) but its estimate is (numerically) zero, `‖ĝ‖₂ ≤ τ·|r̄|`.
    /// For CA-PG this is `‖∇ log P(a ∈ S)‖ ≤ τ`: the chosen item is surely in the candidate
    /// set (P → 1), so the reward moves nothing. Returns nil for an unrewarded draw (no
    /// credit to vanish). O(n).
    public static func isVanishing(gradient g: [Double], meanReward r: Double,
                                   threshold tau: Double = defaultVanishingThreshold) -> Bool? {
        if r == 0 { return nil }
        var nn = 0.0
        for v in g { nn += v * v }
        return nn.squareRoot() <= tau * Swift.abs(r)
    }

    public static func measure<Q: RankingQuery>(
        estimator: PolicyGradientEstimator, scores s: [Double], query: Q, queryID: Int, seed: UInt64,
        draws: Int, reference: [Double], user u: [Double], context x: [Double],
        itemEmbeddings e: [Float], embeddingDim d: Int,
        vanishingThreshold: Double = defaultVanishingThreshold
    ) -> GradientMoments {
        precondition(draws >= 2, "need at least 2 draws to estimate a variance")
        let n = s.count
        // A running-mean baseline at fixed parameters converges to the expected reward:
        // estimate it from `draws` pilot rollouts with keys disjoint from the measured ones.
        var baseline = 0.0
        if estimator.kind == .vpg && estimator.baseline == .mean {
            for t in 0..<draws {
                let r = estimator.sampler.sample(scores: s, query: query, seed: seed, step: draws + t, queryID: queryID, sample: 0)
                baseline += r.reward / Double(draws)
            }
        }
        var all = [[Double]]()
        all.reserveCapacity(draws)
        var mean = [Double](repeating: 0, count: n)
        var rewarded = 0, vanished = 0
        var relative = [Double]()
        for t in 0..<draws {
            var g = [Double](repeating: 0, count: n)
            // Independent draws: the draw index plays the role of the step in the key.
            let stats = estimator.accumulate(scores: s, query: query, seed: seed, step: t, queryID: queryID,
                                             runningBaseline: baseline, scale: 1, into: &g)
            for i in 0..<n { mean[i] += g[i] / Double(draws) }
            let rbar = stats.samples > 0 ? stats.rewardSum / Double(stats.samples) : 0
            if let v = isVanishing(gradient: g, meanReward: rbar, threshold: vanishingThreshold) {
                rewarded += 1
                if v { vanished += 1 }
                relative.append(g.reduce(0) { $0 + $1 * $1 }.squareRoot() / Swift.abs(rbar))
            }
            all.append(g)
        }
        let uu = u.reduce(0) { $0 + $1 * $1 }
        let xx = x.reduce(0) { $0 + $1 * $1 }
        var vs = 0.0, vp = 0.0
        var delta = [Double](repeating: 0, count: n)
        var et = [Double](repeating: 0, count: d)
        for g in all {
            var dd = 0.0
            for i in 0..<n { delta[i] = g[i] - mean[i]; dd += delta[i] * delta[i] }
            for j in 0..<d { et[j] = 0 }
            for i in 0..<n where delta[i] != 0 {
                for j in 0..<d { et[j] += Double(e[i * d + j]) * delta[i] }
            }
            vs += dd
            vp += dd * (uu + 1) + et.reduce(0) { $0 + $1 * $1 } * xx
        }
        vs /= Double(draws - 1); vp /= Double(draws - 1)
        var nm = 0.0
        for i in 0..<n { nm += mean[i] * mean[i] }
        // ‖ḡ‖² overestimates ‖E ĝ‖² by tr Cov / draws (the mean's own noise); subtract it so a
        // pure-noise estimator reads SNR ≈ 0, not 1/√draws.
        let signal = Swift.max(0, nm - vs / Double(draws))
        let cos = cosine(mean, reference)
        return GradientMoments(varianceScores: vs, varianceParams: vp, cosineToReference: cos,
                               snr: vs > 0 ? signal.squareRoot() / vs.squareRoot() : .infinity, mean: mean,
                               rewardedDraws: rewarded, vanishedDraws: vanished, relativeNorms: relative)
    }
}
