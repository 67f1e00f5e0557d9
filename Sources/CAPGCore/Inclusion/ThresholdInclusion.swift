import Foundation

/// Mean-field exponential race (DESIGN.md §2): every item competes against one shared
/// threshold time `t*` at which K arrivals are *expected*,
///
///   Σ_i (1 − e^{−w_i t*}) = K,      P(a∈S) ≈ 1 − e^{−w_a t*},
///
/// so `Σ_a P_a = K` exactly (to the solver's precision). Its gradient follows from the
/// implicit function theorem; with `x_i = w_i t*` and `e_i = e^{−x_i}`,
///
///   ∂ log P_a/∂s_j = (e_a w_a / P_a)(δ_aj t* + ∂t*/∂s_j),   ∂t*/∂s_j = −e_j w_j t* / Σ_i e_i w_i,
///
/// which is evaluated in the equivalent scale-free form
///
///   ∂ log P_a/∂s_j = φ(x_a) · (δ_aj − ψ_j / Σ_i ψ_i),   φ(x) = x / (e^x − 1),   ψ_i = x_i e^{−x_i}.
///
/// Numerics: the solve runs on `τ = log t*` and every `x_i = exp(s_i − max s + τ)` is
/// formed from logs, so weights that would underflow (`s_i − max s < −745`) still get a
/// positive `x_i` and `t*` may be huge without any overflow; `ψ_j / Σψ` is a softmax of
/// `log ψ_i = log x_i − x_i`, so it stays defined when every `ψ_i` underflows (all items
/// saturated at P ≈ 0 or 1). `log P_a = log(−expm1(−x_a))`, or `log x_a` when `x_a` is
/// below 1e-300 (relative error `x_a/2`), so log P never becomes −∞ for finite scores.
public struct ThresholdInclusion: InclusionModel {
    public var kind: InclusionModelKind { .threshold }

    /// Stateless; O(1).
    public init() {}

    /// The solved race: `logX[i] = log x_i = s_i − max s + log t*`, and `logT = log t*`
    /// in the unit where the top weight is 1.
    struct Solution {
        var logX: [Double]
        var logT: Double
    }

    /// Solves `h(τ) = Σ_i −expm1(−e^{ℓ_i + τ}) − K = 0` (`ℓ_i = s_i − max s`, `τ = log t*`),
    /// increasing in τ with `h'(τ) = Σ_i x_i e^{−x_i}`. The bracket starts at
    /// `τ_lo = log(K / Σ_i e^{ℓ_i})` (where `h ≤ Σ x_i − K = 0`) and doubles its step upward
    /// until `h ≥ 0`; then Newton on τ, falling back to bisection whenever a step leaves
    /// the bracket, until `|Δτ| ≤ 1e-14` (relative 1e-14 in t*, or 4 ulps of τ when
    /// |τ| is large). O(N) per iteration; O(N · (log range + ~6)) in total.
    static func solve(scores: [Double], k: Int) -> Solution {
        let top = StableMath.maximum(scores)
        let ell = scores.map { $0 - top }
        func evaluate(_ tau: Double) -> (h: Double, slope: Double) {
            var sum = 0.0, slope = 0.0
            for l in ell {
                let x = Foundation.exp(l + tau)
                sum += -Foundation.expm1(-x)
                if x < 746 { slope += x * Foundation.exp(-x) }  // else the term is 0 (and x may be +∞)
            }
            return (sum - Double(k), slope)
        }
        var lo = Foundation.log(Double(k)) - StableMath.logSumExp(ell)
        var hLo = evaluate(lo).h
        if hLo >= 0 { return Solution(logX: ell.map { $0 + lo }, logT: lo) }
        var step = 1.0
        var hi = lo + step
        var hHi = evaluate(hi).h
        while hHi < 0 {
            lo = hi; hLo = hHi
            step *= 2
            hi = lo + step
            hHi = evaluate(hi).h
        }
        var tau = hHi < -hLo ? hi : lo
        for _ in 0..<200 {
            let (h, slope) = evaluate(tau)
            if h == 0 { break }
            if h < 0 { lo = tau } else { hi = tau }
            var next = tau - h / slope
            if !(next > lo && next < hi) { next = 0.5 * (lo + hi) }
            let done = Swift.abs(next - tau) <= Swift.max(1e-14, 4 * tau.ulp) || !(lo < hi)
            tau = next
            if done { break }
        }
        return Solution(logX: ell.map { $0 + tau }, logT: tau)
    }

    /// `log(1 − e^{−x})` from `log x`, accurate for every x (≈ `log x` when x is tiny).
    @inline(__always)
    static func logInclusion(logX: Double) -> Double {
        if logX < -690 { return logX }  // x < 1e-300: 1 − e^{−x} = x (1 − x/2 + …)
        return Foundation.log(-Foundation.expm1(-Foundation.exp(logX)))
    }

    /// `P_a = 1 − e^{−w_a t*}` for every item. O(N) plus the solve.
    public func probabilities(scores: [Double], k: Int) -> [Double] {
        precondition(k >= 1, "k must be at least 1 (got \(k))")
        let n = scores.count
        if k >= n { return [Double](repeating: 1, count: n) }
        return Self.solve(scores: scores, k: k).logX.map { -Foundation.expm1(-Foundation.exp($0)) }
    }

    /// Adds `scale · φ(x_a)(δ_aj − ψ_j/Σψ)` (the implicit-function gradient above) to
    /// `gradient[j]` and returns `log P_a = log(1 − e^{−x_a})`. O(N) plus the solve.
    public func accumulateLogProbabilityGradient(
        of item: Int, scores: [Double], k: Int, scale: Double, into gradient: inout [Double]
    ) -> Double {
        precondition(k >= 1, "k must be at least 1 (got \(k))")
        precondition(item >= 0 && item < scores.count, "item \(item) out of range 0..<\(scores.count)")
        precondition(gradient.count == scores.count, "gradient has \(gradient.count) entries, scores \(scores.count)")
        if k >= scores.count { return 0 }
        if let fast = Self.fastGradient(of: item, scores: scores, k: k, scale: scale, into: &gradient) { return fast }
        let solution = Self.solve(scores: scores, k: k)
        let logXa = solution.logX[item]
        let xa = Foundation.exp(logXa)
        // φ(x) = x/(e^x − 1): → 1 as x → 0 (also when x underflows), → 0 when e^x overflows.
        let phi = xa < 1e-300 ? 1.0 : xa / Foundation.expm1(xa)
        if phi > 0 {
            let logPsi = solution.logX.map { $0 - Foundation.exp($0) }
            let logSum = StableMath.logSumExp(logPsi)
            for j in logPsi.indices {
                gradient[j] -= scale * phi * Foundation.exp(logPsi[j] - logSum)
            }
            gradient[item] += scale * phi
        }
        return Self.logInclusion(logX: logXa)
    }

    /// The same solve and gradient in the linear domain, for the common case where no weight
    /// underflows (`s_i − max s > −700` for all i); returns nil otherwise so the log-domain
    /// path above handles it. Cost: N exps for `w_i`, then one exp per item per Newton
    /// iteration (`e_i = e^{−w_i t}`), and the gradient reuses the last iteration's `e_i`:
    /// `ψ_j = w_j t e_j` and `Σψ` is the Newton slope, so the gradient costs no exp at all.
    static func fastGradient(of item: Int, scores: [Double], k: Int, scale: Double, into gradient: inout [Double]) -> Double? {
        let n = scores.count
        let top = StableMath.maximum(scores)
        var w = [Double](repeating: 0, count: n)
        var sumW = 0.0
        for i in 0..<n {
            let l = scores[i] - top
            if l < -700 { return nil }
            w[i] = Foundation.exp(l)
            sumW += w[i]
        }
        var e = [Double](repeating: 0, count: n)
        // h(t) = Σ(1 − e^{−w_i t}) − K and h'(t)·t = Σ w_i t e^{−w_i t}, filling e.
        func evaluate(_ t: Double) -> (h: Double, slopeT: Double) {
            var sum = 0.0, slope = 0.0
            e.withUnsafeMutableBufferPointer { eb in
                w.withUnsafeBufferPointer { wb in
                    for i in 0..<n {
                        let x = wb[i] * t
                        let ei = Foundation.exp(-x)
                        eb[i] = ei
                        // 1 − e^{−x} has absolute error ~1e-16 per term (what the sum needs);
                        // below 1e-8 the series x − x²/2 is exact to 2e-17 relative as well.
                        sum += x < 1e-8 ? x * (1 - 0.5 * x) : 1 - ei
                        slope += x * ei
                    }
                }
            }
            return (sum - Double(k), slope)
        }
        // Newton on τ = log t from τ₀ = log(K/Σw), where h ≤ 0 (since 1 − e^{−x} ≤ x).
        var lo = Foundation.log(Double(k) / sumW), hi = Double.infinity
        var tau = lo
        var last = evaluate(Foundation.exp(tau))
        for _ in 0..<200 {
            if last.h == 0 { break }
            if last.h < 0 { lo = tau } else { hi = tau }
            var next = tau - last.h / last.slopeT
            if !(next > lo && next < hi) { next = hi.isFinite ? 0.5 * (lo + hi) : lo + 1 }
            let done = Swift.abs(next - tau) <= Swift.max(1e-14, 4 * tau.ulp)
            tau = next
            last = evaluate(Foundation.exp(tau))
            if done { break }
        }
        let t = Foundation.exp(tau)
        let xa = w[item] * t
        let phi = xa < 1e-300 ? 1.0 : xa / Foundation.expm1(xa)
        let sumPsi = last.slopeT
        if phi > 0 && sumPsi > 0 {
            let c = scale * phi * t / sumPsi
            gradient.withUnsafeMutableBufferPointer { g in
                for j in 0..<n { g[j] -= c * w[j] * e[j] }
            }
            gradient[item] += scale * phi
        }
        return xa < 1e-300 ? Foundation.log(xa) : Foundation.log(-Foundation.expm1(-xa))
    }
}
