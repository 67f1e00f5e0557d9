import Foundation

/// The Plackett-Luce (PL) distribution over ordered K-prefixes of N items with scores `s`:
///
///   π(σ) = Π_{k=1..K} w_{σ_k} / Z_k,   w_i = exp(s_i − max s),   Z_k = Σ_{j ∉ σ_<k} w_j.
///
/// The normalizers are built from the *tail* (`Z_K = Σ_{j∉σ} w_j + w_{σ_K}`, then adding the
/// prefix items back in reverse) rather than by subtracting from the total, so a prefix that
/// holds almost all the mass does not cancel catastrophically.
public enum PlackettLuce {
    /// Normalizers `Z_1..Z_K` of the prefix `σ` and the shifted weights; O(N + K log K).
    @usableFromInline
    static func normalizers(_ w: [Double], prefix: [Int]) -> [Double] {
        let k = prefix.count
        let sorted = prefix.sorted()
        var rest = 0.0
        var p = 0
        for i in w.indices {
            if p < k && sorted[p] == i { p += 1; continue }
            rest += w[i]
        }
        var z = [Double](repeating: 0, count: k)
        var acc = rest
        for m in stride(from: k - 1, through: 0, by: -1) {
            acc += w[prefix[m]]
            z[m] = acc
        }
        return z
    }

    /// `log π(σ)` of the ordered prefix `σ`; O(N + K log K).
    public static func logProbability(scores s: [Double], prefix: [Int]) -> Double {
        let m = StableMath.maximum(s)
        let w = s.map { Foundation.exp($0 - m) }
        let z = normalizers(w, prefix: prefix)
        var lp = 0.0
        for (k, item) in prefix.enumerated() { lp += (s[item] - m) - Foundation.log(z[k]) }
        return lp
    }

    /// Adds `scale · ∂ log π(σ)/∂s` to `gradient` and returns `log π(σ)`:
    ///
    ///   ∂ log π(σ)/∂s_j = 1[j∈σ] − w_j · H_{min(K, pos(j))},   H_k = Σ_{m≤k} 1/Z_m,
    ///
    /// with `pos(j) = K` for items outside σ. O(N + K log K), one pass over N.
    @discardableResult
    public static func accumulateLogProbabilityGradient(
        scores s: [Double], prefix: [Int], scale: Double, into gradient: inout [Double]
    ) -> Double {
        precondition(gradient.count == s.count, "gradient has \(gradient.count) entries, scores \(s.count)")
        let m = StableMath.maximum(s)
        let w = s.map { Foundation.exp($0 - m) }
        let z = normalizers(w, prefix: prefix)
        var h = [Double](repeating: 0, count: prefix.count)
        var acc = 0.0
        var lp = 0.0
        for k in prefix.indices {
            acc += 1 / z[k]
            h[k] = acc
            lp += (s[prefix[k]] - m) - Foundation.log(z[k])
        }
        let hK = acc
        gradient.withUnsafeMutableBufferPointer { g in
            for j in w.indices { g[j] -= scale * w[j] * hK }
            // Items in the prefix: undo the −w_j·H_K above and apply 1 − w_j·H_pos.
            for (k, item) in prefix.enumerated() { g[item] += scale * (1 + w[item] * (hK - h[k])) }
        }
        return lp
    }
}
