import Foundation

/// The exact policy value and its gradient for tiny N by enumerating every ordered
/// K-prefix (the oracle the estimators are tested against):
///
///   V(s) = Σ_σ π(σ) R(S),   ∇_s V = Σ_σ π(σ) ∇_s log π(σ) R(S),   R(S) = Σ_{a∈S} π₂(a|S) q(a).
///
/// Cost: O(N · N!/(N−K)!); refuses more than `maxPrefixes` prefixes.
public enum ExactGradient {
    public static let maxPrefixes = 2_000_000

    public struct Result: Sendable {
        public var value: Double
        public var gradient: [Double]
    }

    public static func compute<Q: RankingQuery>(scores s: [Double], query: Q, k: Int, lsr: LateStageRanker) -> Result {
        let n = s.count
        precondition(PrefixEnumeration.count(n: n, k: k) <= maxPrefixes, "exact enumeration too large: N=\(n), K=\(k)")
        var value = 0.0
        var grad = [Double](repeating: 0, count: n)
        PrefixEnumeration.forEach(n: n, k: k) { sigma in
            let lp = PlackettLuce.logProbability(scores: s, prefix: sigma)
            let p = Foundation.exp(lp)
            let r = lsr.setValue(candidates: sigma, query: query)
            value += p * r
            if p * r != 0 {
                PlackettLuce.accumulateLogProbabilityGradient(scores: s, prefix: sigma, scale: p * r, into: &grad)
            }
        }
        return Result(value: value, gradient: grad)
    }

    /// The value and gradient of the *with-replacement* policy (K i.i.d. draws from
    /// π = softmax(s), S = their distinct items) by enumerating all N^K draw tuples:
    ///
    ///   V_swr(s) = Σ_{a_1..a_K} Π_k π_{a_k} R(S),   ∇V_swr = Σ Π_k π_{a_k} R(S) Σ_k (e_{a_k} − π),
    ///
    /// the quantity V-PG-SwR estimates without bias. Cost O(N^K · (N + K)); refuses more than
    /// `maxPrefixes` tuples.
    public static func withReplacement<Q: RankingQuery>(scores s: [Double], query: Q, k: Int, lsr: LateStageRanker) -> Result {
        let n = s.count
        precondition(Foundation.pow(Double(n), Double(k)) <= Double(maxPrefixes), "tuple enumeration too large: N=\(n), K=\(k)")
        let pi = StableMath.softmax(s)
        var value = 0.0
        var grad = [Double](repeating: 0, count: n)
        var tuple = [Int](repeating: 0, count: k)
        func visit(_ depth: Int, _ p: Double) {
            if depth == k {
                var items: [Int] = [], counts: [Int] = []
                for a in tuple {
                    if let i = items.firstIndex(of: a) { counts[i] += 1 } else { items.append(a); counts.append(1) }
                }
                let r = lsr.setValue(candidates: items, query: query)
                value += p * r
                SoftmaxWithReplacement.accumulateLogProbabilityGradient(
                    of: zip(items, counts).map { (item: $0, weight: Double($1)) }, softmax: pi, scale: p * r, into: &grad)
                return
            }
            for a in 0..<n {
                tuple[depth] = a
                visit(depth + 1, p * pi[a])
            }
        }
        visit(0, 1)
        return Result(value: value, gradient: grad)
    }

    /// Exact `P(a ∈ S)` of every item by enumeration (brute force for the inclusion models).
    public static func inclusionProbabilities(scores s: [Double], k: Int) -> [Double] {
        var p = [Double](repeating: 0, count: s.count)
        PrefixEnumeration.forEach(n: s.count, k: k) { sigma in
            let q = Foundation.exp(PlackettLuce.logProbability(scores: s, prefix: sigma))
            for a in sigma { p[a] += q }
        }
        return p
    }
}
