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
