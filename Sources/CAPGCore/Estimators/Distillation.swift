import Foundation

/// On-policy distillation of the late-stage ranker into the early-stage ranker: the non-RL
/// baseline for CA-PG. For a candidate set S sampled from the ESR itself, the ESR's
/// first-choice distribution restricted to S, `softmax_S(s)`, is fitted to the LSR's
/// distribution over S, `π₂(·|S)`, by maximizing the negative cross-entropy
///
///   J(s; S) = Σ_{a∈S} π₂(a|S) · log softmax_S(s)_a,
///   ∂J/∂s_j = π₂(j|S) − softmax_S(s)_j   for j ∈ S,   0 for j ∉ S.
///
/// S is treated as fixed (no gradient through the sampling), as in on-policy distillation:
/// the ESR is taught the LSR's preferences exactly where it currently puts its candidates.
/// Why the first-choice cross-entropy rather than a listwise PL likelihood of the LSR's
/// ranking of S: π₂ is a softmax over S, so its first choice is the whole of what the LSR
/// does downstream; with an argmax LSR the target is one-hot on the LSR's favourite in S and
/// J is its log-likelihood. No reward is used: distillation is only as good as the LSR.
/// Cost O(K).
public enum Distillation {
    /// Adds `scale · ∂J/∂s` to `gradient` and returns J.
    @discardableResult
    public static func accumulate(scores s: [Double], candidates: [Int], target: [Double], scale: Double,
                                  into gradient: inout [Double]) -> Double {
        precondition(candidates.count == target.count, "one target probability per candidate")
        guard !candidates.isEmpty else { return 0 }
        let (terms, j) = candidateTerms(candidateScores: candidates.map { s[$0] }, target: target, scale: scale)
        for (i, a) in candidates.enumerated() { gradient[a] += terms[i] }
        return j
    }

    /// The nonzero entries of `scale · ∂J/∂s`, `scale · (π₂(a|S) − softmax_S(s)_a)` for each
    /// candidate a in order, and J, from the candidates' scores alone (which is all an
    /// item-sharded caller needs to share). O(K).
    public static func candidateTerms(candidateScores cs: [Double], target: [Double], scale: Double)
        -> (terms: [Double], objective: Double)
    {
        precondition(cs.count == target.count, "one target probability per candidate")
        var m = -Double.infinity
        for v in cs { m = Swift.max(m, v) }
        var z = 0.0
        for v in cs { z += Foundation.exp(v - m) }
        let logZ = m + Foundation.log(z)
        var j = 0.0
        var terms = [Double](repeating: 0, count: cs.count)
        for i in cs.indices {
            let logP = cs[i] - logZ
            if target[i] > 0 { j += target[i] * logP }
            terms[i] = scale * (target[i] - Foundation.exp(logP))
        }
        return (terms, j)
    }
}
