import Foundation

/// Independent-draws approximation (DESIGN.md §2): the K slots are treated as K
/// independent draws from `π = softmax(s)` (with replacement), so
///
///   P(a∈S) ≈ 1 − (1 − π_a)^K,
///   ∂ log P_a/∂s_j = [K (1 − π_a)^{K−1} π_a / P_a] · (δ_aj − π_j).
///
/// Cheapest and least accurate: it ignores that PL draws are without replacement, so it
/// underestimates the inclusion of heavy items (Σ_a P_a < K in general).
///
/// Numerics: `1 − π_a` is formed as `Σ_{j≠a} w_j / Σ_j w_j` (sum of the other weights,
/// never `1 − π_a`), so a dominant item keeps an accurate complement;
/// `(1 − π_a)^K = exp(K log(1 − π_a))` with `log1p` when `π_a < ½`, and
/// `P_a = −expm1(K log(1 − π_a))`. When `π_a < 1e-300`, `log P_a = log K + log π_a` with
/// `log π_a = s_a − logsumexp(s)` (relative error ≈ Kπ_a/2), so log P and the
/// gradient coefficient stay finite even when `π_a` underflows.
public struct IndependentInclusion: InclusionModel {
    public var kind: InclusionModelKind { .independent }

    /// Stateless; O(1).
    public init() {}

    /// `log π_a`, `log(1 − π_a)` and `log P_a` from the shifted weights.
    @inline(__always)
    static func logs(logWeight: Double, rest: Double, total: Double, k: Int)
        -> (logPi: Double, logComplement: Double, logP: Double)
    {
        let logZ = Foundation.log(total)
        let logPi = logWeight - logZ
        let pi = Foundation.exp(logPi)
        let logComplement = pi < 0.5 ? Foundation.log1p(-pi) : Foundation.log(rest) - logZ
        let logP: Double
        if logPi < -690 {
            logP = Foundation.log(Double(k)) + logPi
        } else {
            logP = Foundation.log(-Foundation.expm1(Double(k) * logComplement))
        }
        return (logPi, logComplement, logP)
    }

    /// `P_a = 1 − (1 − π_a)^K` for every item. O(N).
    public func probabilities(scores: [Double], k: Int) -> [Double] {
        precondition(k >= 1, "k must be at least 1 (got \(k))")
        let n = scores.count
        if k >= n { return [Double](repeating: 1, count: n) }
        let top = StableMath.maximum(scores)
        let w = scores.map { Foundation.exp($0 - top) }
        // rest_a = (Σ_{j<a} w_j) + (Σ_{j>a} w_j): sums of positives, no cancellation.
        var suffix = [Double](repeating: 0, count: n + 1)
        for i in stride(from: n - 1, through: 0, by: -1) { suffix[i] = suffix[i + 1] + w[i] }
        let total = suffix[0]
        var prefix = 0.0
        var p = [Double](repeating: 0, count: n)
        for a in 0..<n {
            let l = Self.logs(logWeight: scores[a] - top, rest: prefix + suffix[a + 1], total: total, k: k)
            p[a] = Foundation.exp(l.logP)
            prefix += w[a]
        }
        return p
    }

    /// Adds `scale · c_a (δ_aj − π_j)` with `c_a = K(1 − π_a)^{K−1} π_a / P_a` (formed in
    /// the log domain) to `gradient[j]`, returns `log P_a`. O(N).
    public func accumulateLogProbabilityGradient(
        of item: Int, scores: [Double], k: Int, scale: Double, into gradient: inout [Double]
    ) -> Double {
        checkGradientArguments(item: item, scores: scores, k: k, gradient: gradient)
        let n = scores.count
        if k >= n { return 0 }
        let top = StableMath.maximum(scores)
        let w = scores.map { Foundation.exp($0 - top) }
        var total = 0.0, rest = 0.0
        for j in 0..<n {
            total += w[j]
            if j != item { rest += w[j] }
        }
        let l = Self.logs(logWeight: scores[item] - top, rest: rest, total: total, k: k)
        // K = 1: c = π_a / P_a = 1 exactly; skipping the (K−1)·log(1−π_a) term avoids 0 · (−∞).
        let logC = k == 1 ? 0 : Foundation.log(Double(k)) + Double(k - 1) * l.logComplement + l.logPi - l.logP
        let c = Foundation.exp(logC)
        if c > 0 {
            for j in 0..<n { gradient[j] -= scale * c * (w[j] / total) }
            gradient[item] += scale * c
        }
        return l.logP
    }
}
