import Foundation

/// The heuristic inclusion probability of the paper's published CA-PG code, in capg's
/// reading (issue 15; the exact definition of the prefix is *not* verified against the
/// authors' code): the K slots of the Plackett-Luce draw are treated as independent
/// chances, slot k drawing `a` after a *deterministic* prefix — the k−1 highest-scoring
/// items other than a (the most likely prefix that leaves a available):
///
///   p_k(a) = w_a / Z_k,   Z_k = Σ_{j ∉ D_k(a)} w_j,   D_k(a) = top-(k−1) items of s \ {a},
///   P(a ∈ S) ≈ 1 − Π_{k=1}^{K} (1 − p_k(a)).
///
/// Exact for K = 1 (`p_1 = softmax(s)_a`). The prefixes are held fixed when differentiating
/// (they change only where two scores cross), so with `Q = Π_k (1 − p_k)` and
/// `c_k = Q p_k / ((1 − p_k) P)`:
///
///   ∂ log P/∂s_j = δ_aj Σ_k c_k − w_j Σ_{k : j ∉ D_k(a)} c_k / Z_k.
///
/// A prefix item at rank r (1-based) of `D_K(a)` is outside `D_k(a)` for k ≤ r only, so the
/// inner sums are prefix sums over k. Numerics: everything in the log domain — `log Z_k` and
/// `log(Z_k − w_a)` are log-sums of the weights they cover (no difference, so no cancellation
/// when a or the prefix dominates, and no underflow 800 nats down), `log(1 − p_k)` by `log1p`
/// while p_k < ½, `P = −expm1(log Q)` (or `Σ_k p_k` once every p_k < 1e-300), and
/// `w_j/Z_k = e^{s_j − log Z_k}` per item. It ignores that the prefix is random, so it overstates the
/// inclusion of low items and understates that of the top items' competitors.
///
/// Cost: O(N log K) to find the top K, O(N + K) for P_a and its gradient.
public struct PrefixInclusion: InclusionModel {
    public var kind: InclusionModelKind { .prefix }

    /// Stateless; O(1).
    public init() {}

    /// The top-K item indices by score, decreasing (ties to the smaller index). O(N log K).
    static func topIndices(_ s: [Double], count: Int) -> [Int] {
        var top: [Int] = []
        top.reserveCapacity(count + 1)
        func before(_ i: Int, _ j: Int) -> Bool { s[i] > s[j] || (s[i] == s[j] && i < j) }
        for i in s.indices {
            if top.count == count, let last = top.last, !before(i, last) { continue }
            var lo = 0, hi = top.count
            while lo < hi { let mid = (lo + hi) / 2; if before(top[mid], i) { lo = mid + 1 } else { hi = mid } }
            top.insert(i, at: lo)
            if top.count > count { top.removeLast() }
        }
        return top
    }

    /// The per-slot terms for item a, in the log domain (weights may underflow and the
    /// prefix may hold almost all the mass): `prefix` = D_K(a) (K−1 items),
    /// `logZ[k]` = log Z_{k+1}, `logRest[k]` = log(Z_{k+1} − w_a), each a log-sum of the
    /// weights it covers (never a difference), `logQ = Σ_k log(1 − p_k)` and `log P`.
    struct Slots {
        var prefix: [Int]
        var logZ: [Double]
        var logRest: [Double]
        var logQ: Double
        var logP: Double
    }

    /// O(N + K).
    static func slots(of a: Int, scores s: [Double], k: Int, top: [Int]) -> Slots {
        let prefix = Array(top.lazy.filter { $0 != a }.prefix(k - 1))
        let inPrefix = Set(prefix)
        // log Σ of the items that are never removed (not a, not in the prefix).
        var m = -Double.infinity
        for j in s.indices where j != a && !inPrefix.contains(j) { m = Swift.max(m, s[j]) }
        var sum = 0.0
        if m > -.infinity { for j in s.indices where j != a && !inPrefix.contains(j) { sum += Foundation.exp(s[j] - m) } }
        let logBase = m > -.infinity ? m + Foundation.log(sum) : -Double.infinity
        func logAdd(_ x: Double, _ y: Double) -> Double {
            let hi = Swift.max(x, y), lo = Swift.min(x, y)
            return hi == -.infinity ? hi : hi + Foundation.log1p(Foundation.exp(lo - hi))
        }
        // Slot k (0-based) still holds prefix items k−1… (slot 0 holds all of them).
        var logRest = [Double](repeating: 0, count: k), logZ = logRest
        var tail = logBase
        for slot in stride(from: k - 1, through: 0, by: -1) {
            if slot < k - 1 { tail = logAdd(tail, s[prefix[slot]]) }
            logRest[slot] = tail
            logZ[slot] = logAdd(tail, s[a])
        }
        var logQ = 0.0, maxLogP = -Double.infinity
        var logPs = [Double](repeating: 0, count: k)
        for slot in 0..<k {
            let logP = s[a] - logZ[slot]
            logPs[slot] = logP
            maxLogP = Swift.max(maxLogP, logP)
            // log(1 − p): log1p(−p) while p < ½ (keeps tiny p), else the ratio of sums.
            logQ += logP < -Foundation.log(2.0) ? Foundation.log1p(-Foundation.exp(logP)) : logRest[slot] - logZ[slot]
        }
        let logP: Double
        if maxLogP < -690 {
            // Every p_k below 1e-300: P = Σ_k p_k (1 + O(p)).
            let mm = maxLogP
            logP = mm + Foundation.log(logPs.reduce(0) { $0 + Foundation.exp($1 - mm) })
        } else {
            logP = Foundation.log(-Foundation.expm1(logQ))
        }
        return Slots(prefix: prefix, logZ: logZ, logRest: logRest, logQ: logQ, logP: logP)
    }

    /// `P_a = 1 − Π_k (1 − p_k(a))` for every item. O(N·K).
    public func probabilities(scores: [Double], k: Int) -> [Double] {
        precondition(k >= 1, "k must be at least 1 (got \(k))")
        let n = scores.count
        if k >= n { return [Double](repeating: 1, count: n) }
        let order = Self.topIndices(scores, count: k)
        return (0..<n).map { Foundation.exp(Self.slots(of: $0, scores: scores, k: k, top: order).logP) }
    }

    /// Adds `scale · ∂ log P_a/∂s_j` (formula above) to `gradient[j]`, returns `log P_a`.
    /// With `c_k = (Q/P) · w_a / (Z_k − w_a)` (in the limit of tiny p: `p_k / Σ_l p_l`).
    /// O(N + K log K).
    public func accumulateLogProbabilityGradient(
        of item: Int, scores: [Double], k: Int, scale: Double, into gradient: inout [Double]
    ) -> Double {
        checkGradientArguments(item: item, scores: scores, k: k, gradient: gradient)
        let n = scores.count
        if k >= n { return 0 }
        let order = Self.topIndices(scores, count: k)
        let sl = Self.slots(of: item, scores: scores, k: k, top: order)
        var c = [Double](repeating: 0, count: k)
        for slot in 0..<k {
            // log c_k = log Q − log P + s_a − log(Z_k − w_a); when P is below 1e-300 this is
            // the same limit, p_k / Σ_l p_l, since log Q → 0 and log P → log Σ p_l.
            c[slot] = Foundation.exp(sl.logQ - sl.logP + scores[item] - sl.logRest[slot])
        }
        // logCumulative[r] = log Σ_{slots ≤ r} c_k / Z_k (log domain: Z_k may be far below the
        // top weight, and w_j/Z_k = e^{s_j − log Z_k} is formed per item, never w_j and 1/Z_k apart).
        var logCumulative = [Double](repeating: -.infinity, count: k)
        var acc = -Double.infinity
        for slot in 0..<k {
            let term = Foundation.log(c[slot]) - sl.logZ[slot]
            let hi = Swift.max(acc, term), lo = Swift.min(acc, term)
            acc = hi == -.infinity ? hi : hi + Foundation.log1p(Foundation.exp(lo - hi))
            logCumulative[slot] = acc
        }
        // An item outside D_K(a) is in every Z_k (so s_j ≤ log Z_k and the exp is ≤ Σc);
        // prefix item at index r of D_K(a) is in D_k for slots > r, so it takes slots 0...r.
        let rank = Dictionary(uniqueKeysWithValues: sl.prefix.enumerated().map { ($1, $0) })
        let logAll = logCumulative[k - 1]
        gradient.withUnsafeMutableBufferPointer { g in
            for j in 0..<n {
                let logShare = rank[j].map { logCumulative[$0] } ?? logAll
                g[j] -= scale * Foundation.exp(scores[j] + logShare)
            }
        }
        gradient[item] += scale * c.reduce(0, +)
        return sl.logP
    }
}
