import Foundation

/// K independent draws from the softmax policy `π = softmax(s)` (sampling *with*
/// replacement; the paper's "SwR" candidate generation), and the score gradient of their
/// log-probability.
///
/// A draw is an inverse-CDF lookup: `u ~ U(0,1)`, the first i with `Σ_{j≤i} w_j > u Σ_j w_j`
/// (`w_j = e^{s_j − max s}`), by binary search in the cumulative weights. The K draws give
/// the candidate set S = their distinct items; unlike a Plackett-Luce prefix, |S| ≤ K.
///
/// Cost: O(N) for the cumulative weights, O(K log N) for the draws.
public enum SoftmaxWithReplacement {
    /// The distinct drawn items in first-draw order with their draw counts (Σ counts = K),
    /// using K uniforms of `stream`.
    public static func sample(scores s: [Double], k: Int, stream: inout RandomStream) -> (items: [Int], counts: [Int]) {
        precondition(k >= 1 && !s.isEmpty, "need k ≥ 1 and at least one item (k \(k), N \(s.count))")
        let top = StableMath.maximum(s)
        var cumulative = [Double](repeating: 0, count: s.count)
        var total = 0.0
        for i in s.indices {
            total += Foundation.exp(s[i] - top)
            cumulative[i] = total
        }
        var items: [Int] = [], counts: [Int] = []
        var position: [Int: Int] = [:]
        for _ in 0..<k {
            let target = stream.uniform() * total
            var lo = 0, hi = s.count - 1
            while lo < hi {
                let mid = (lo + hi) / 2
                if cumulative[mid] > target { hi = mid } else { lo = mid + 1 }
            }
            if let p = position[lo] {
                counts[p] += 1
            } else {
                position[lo] = items.count
                items.append(lo)
                counts.append(1)
            }
        }
        return (items, counts)
    }

    /// Adds `scale · Σ_i c_i ∇_s log π_{a_i} = scale · (Σ_i c_i e_{a_i} − (Σ_i c_i) π)` for
    /// items `a_i` with weights `c_i` (draw counts for V-PG-SwR, one item for TOP1-PG, λ_K
    /// for the top-K correction) to `gradient`, given `pi = softmax(s)`. O(N + #items).
    public static func accumulateLogProbabilityGradient(
        of items: [(item: Int, weight: Double)], softmax pi: [Double], scale: Double, into gradient: inout [Double]
    ) {
        let mass = scale * items.reduce(0) { $0 + $1.weight }
        gradient.withUnsafeMutableBufferPointer { g in
            for j in pi.indices { g[j] -= mass * pi[j] }
        }
        for (a, c) in items { gradient[a] += scale * c }
    }
}
