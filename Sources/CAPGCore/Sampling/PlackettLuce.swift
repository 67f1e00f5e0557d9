import CVectorMath
import Foundation

/// The Plackett-Luce (PL) distribution over ordered K-prefixes of N items with scores `s`:
///
///   π(σ) = Π_{k=1..K} exp(s_{σ_k}) / Z_k,   Z_k = Σ_{j ∉ σ_<k} exp(s_j).
///
/// The normalizers are kept in the log domain and built from the *tail*
/// (`log Z_K = logaddexp(log Σ_{j∉σ} e^{s_j}, s_{σ_K})`, then adding the prefix items back
/// in reverse) rather than by subtracting from the total: a trained, peaked policy whose
/// prefix holds all but 1e-300 of the mass still gets finite, accurate normalizers.
public enum PlackettLuce {
    /// `log Z_1 … log Z_K` of the prefix σ; O(N + K log K).
    @usableFromInline
    static func logNormalizers(_ s: [Double], prefix: [Int]) -> [Double] {
        var rest = [Double](repeating: 0, count: s.count)
        return s.withUnsafeBufferPointer { sb in
            rest.withUnsafeMutableBufferPointer { logNormalizers(sb, prefix: prefix, restWeights: $0).z }
        }
    }

    /// `log Z_1 … log Z_K`, and `restWeights[j] = e^{s_j − m}` for j ∉ σ (0 for j ∈ σ) with
    /// `m = max_{j∉σ} s_j` (returned), which the gradient reuses: one vectorized exp pass over
    /// N in all. `restWeights.count` = N. Generic over the row's element type (`ScoreElement`:
    /// a Float row gives bitwise what its widened Double row gives). O(N + K log K).
    static func logNormalizers<S: ScoreElement>(_ s: UnsafeBufferPointer<S>, prefix: [Int],
                                                restWeights w: UnsafeMutableBufferPointer<Double>)
        -> (z: [Double], restShift: Double)
    {
        let n = s.count
        precondition(w.count >= n, "rest weights have \(w.count) entries, scores \(n)")
        var inPrefix = prefix.sorted()
        // log Σ_{j∉σ} e^{s_j} with its own shift (it may be far below max s).
        // The maximum of each run of items between consecutive prefix items, vectorized.
        var m = -Double.infinity
        var from = 0
        for cut in inPrefix + [n] where cut >= from {
            let runMax = S.maximum(UnsafeBufferPointer(rebasing: s[from..<cut]))
            if runMax > m { m = runMax }
            from = cut + 1
        }
        var logRest = -Double.infinity
        if m > -Double.infinity {
            // m is finite only when n > 0, so the row has a base address.
            _ = S.expShifted(s.baseAddress!, shift: -m, into: w.baseAddress!, count: n)
            for item in prefix { w[item] = 0 }
            // Summed after zeroing σ (never total − Σ_σ, which cancels when σ holds the mass).
            var acc = (0.0, 0.0, 0.0, 0.0)
            var i = 0
            while i + 4 <= n { acc.0 += w[i]; acc.1 += w[i + 1]; acc.2 += w[i + 2]; acc.3 += w[i + 3]; i += 4 }
            var rest = (acc.0 + acc.1) + (acc.2 + acc.3)
            while i < n { rest += w[i]; i += 1 }
            logRest = m + Foundation.log(rest)
        } else {
            w.update(repeating: 0)
        }
        inPrefix = []
        return (logNormalizers(prefixScores: prefix.map { s[$0].double }, logRest: logRest), m)
    }

    /// `log Z_1 … log Z_K` from the prefix's own scores `s_{σ_1} … s_{σ_K}` and the tail
    /// `logRest = log Σ_{j∉σ} e^{s_j}` (−∞ when σ covers every item):
    /// `log Z_K = logaddexp(logRest, s_{σ_K})`, then `log Z_k = logaddexp(log Z_{k+1}, s_{σ_k})`.
    /// No other score is needed, which is what lets an item-sharded caller, holding only its
    /// shard's scores, form the normalizers from one reduced tail sum. O(K).
    public static func logNormalizers(prefixScores: [Double], logRest: Double) -> [Double] {
        let k = prefixScores.count
        var z = [Double](repeating: 0, count: k)
        var acc = logRest
        for i in stride(from: k - 1, through: 0, by: -1) {
            acc = logAddExp(acc, prefixScores[i])
            z[i] = acc
        }
        return z
    }

    /// `r_k = Σ_{m≤k} e^{log Z_k − log Z_m}` for the normalizers `z = log Z_1 … log Z_K`
    /// (`r_1 = 1`, `r_k = 1 + r_{k−1} e^{log Z_k − log Z_{k−1}}`), so that
    /// `e^{s_j} H_k = e^{s_j − log Z_k} r_k` with every factor ≤ 1 where it matters. O(K).
    public static func cumulativeRatios(logNormalizers z: [Double]) -> [Double] {
        var r = [Double](repeating: 0, count: z.count)
        for i in 0..<z.count {
            r[i] = 1 + (i > 0 ? r[i - 1] * Foundation.exp(z[i] - z[i - 1]) : 0)
        }
        return r
    }

    @inlinable
    static func logAddExp(_ a: Double, _ b: Double) -> Double {
        if a == -Double.infinity { return b }
        if b == -Double.infinity { return a }
        return a > b ? a + Foundation.log1p(Foundation.exp(b - a)) : b + Foundation.log1p(Foundation.exp(a - b))
    }

    /// `log π(σ)` of the ordered prefix σ; O(N + K log K).
    public static func logProbability(scores s: [Double], prefix: [Int]) -> Double {
        let z = logNormalizers(s, prefix: prefix)
        var lp = 0.0
        for (k, item) in prefix.enumerated() { lp += s[item] - z[k] }
        return lp
    }

    /// Adds `scale · ∂ log π(σ)/∂s` to `gradient` and returns `log π(σ)`:
    ///
    ///   ∂ log π(σ)/∂s_j = 1[j∈σ] − e^{s_j} · H_{min(K, pos(j))},   H_k = Σ_{m≤k} 1/Z_m,
    ///
    /// with `pos(j) = K` for items outside σ. Computed as
    /// `e^{s_j − log Z_k} · Σ_{m≤k} e^{log Z_k − log Z_m}` so every factor is ≤ 1 where it
    /// matters. O(N + K log K): one (vectorized) exp per item, shared with the normalizers.
    @discardableResult
    public static func accumulateLogProbabilityGradient(
        scores s: [Double], prefix: [Int], scale: Double, into gradient: inout [Double]
    ) -> Double {
        if prefix.isEmpty { return 0 }
        var w = [Double](repeating: 0, count: s.count)
        var narrowed: Bool? = nil
        return s.withUnsafeBufferPointer { sb in
            w.withUnsafeMutableBufferPointer {
                accumulateLogProbabilityGradient(scores: sb, prefix: prefix, scale: scale, restWeights: $0,
                                                 into: &gradient, narrowed: &narrowed)
            }
        }
    }

    /// `accumulateLogProbabilityGradient` with the N rest weights in caller-owned scratch
    /// (`restWeights.count` = N, contents overwritten), so a per-thread caller neither
    /// allocates nor zero-fills N doubles per rollout. Bitwise the same. O(N + K log K).
    ///
    /// With an overwriting `target` and an all-zero `gradient` (the estimator's cleared row,
    /// for its only weighted rollout), the row is written straight into the Float row as
    /// `Float(0 − c·w_j) + 0` (`capg_negscale_narrow_set`) and σ's K entries are fixed up,
    /// bitwise what adding into `gradient` and then `RowNarrowing.narrow` give (a NaN up to its
    /// sign; the step stops on any NaN), without the
    /// two passes over the Double row; `narrowed` is then whether a value was NaN or ±∞
    /// (`gradient` stays zero). It stays nil when the row went into `gradient` as usual.
    ///
    /// Generic over the row's element type (`ScoreElement`): the estimator's Float-row entry
    /// points pass the Float score row itself, bitwise as its widened Double row.
    @discardableResult
    static func accumulateLogProbabilityGradient<S: ScoreElement>(
        scores s: UnsafeBufferPointer<S>, prefix: [Int], scale: Double, restWeights w: UnsafeMutableBufferPointer<Double>,
        into gradient: inout [Double], narrowingInto target: RowNarrowing? = nil, narrowed: inout Bool?
    ) -> Double {
        precondition(gradient.count == s.count, "gradient has \(gradient.count) entries, scores \(s.count)")
        precondition(w.count == s.count, "rest weights have \(w.count) entries, scores \(s.count)")
        let k = prefix.count
        if k == 0 { return 0 }
        let (z, m) = logNormalizers(s, prefix: prefix, restWeights: w)
        // r[k] = Σ_{m≤k} exp(log Z_k − log Z_m), so that e^{s_j} H_k = e^{s_j − log Z_k} r[k].
        let r = cumulativeRatios(logNormalizers: z)
        var lp = 0.0
        for i in 0..<k { lp += s[prefix[i]].double - z[i] }
        let zK = z[k - 1], rK = r[k - 1]
        if let target, target.overwrite, m > -Double.infinity {
            let c = scale * rK * Foundation.exp(m - zK)
            var nonFinite = capg_negscale_narrow_set(UnsafePointer(w.baseAddress!), c, target.row, s.count) != 0
            for (i, item) in prefix.enumerated() {
                // As below on a zeroed row: (0 − c·w_σ) with w_σ = 0, plus σ's own term.
                var v = 0.0 - c * w[item]
                v += scale * (1 - Foundation.exp(s[item].double - z[i]) * r[i])
                let f = Float(v)
                target.row[item] = f + 0
                if !f.isFinite { nonFinite = true }
            }
            narrowed = nonFinite
            return lp
        }
        gradient.withUnsafeMutableBufferPointer { g in
            // Items outside σ: e^{s_j − log Z_K} = w_j · e^{m − log Z_K} with m ≤ log Z_K, so
            // no overflow; the weights of σ's items are 0, so this loop has no branch.
            if m > -Double.infinity {
                let c = scale * rK * Foundation.exp(m - zK)
                for j in 0..<g.count { g[j] -= c * w[j] }
            }
            // Item σ_i: s ≤ log Z_i, again no overflow.
            for (i, item) in prefix.enumerated() {
                g[item] += scale * (1 - Foundation.exp(s[item].double - z[i]) * r[i])
            }
        }
        return lp
    }
}
