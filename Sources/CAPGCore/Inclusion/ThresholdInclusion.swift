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
    public static func logInclusion(logX: Double) -> Double {
        if logX < -690 { return logX }  // x < 1e-300: 1 − e^{−x} = x (1 − x/2 + …)
        return Foundation.log(-Foundation.expm1(-Foundation.exp(logX)))
    }

    /// The credit factor `φ(x) = x / (e^x − 1) = ∂ log(1 − e^{−x})/∂ log x`: → 1 as x → 0
    /// (also when x underflows), → 0 when e^x overflows. O(1).
    @inline(__always)
    public static func phi(_ x: Double) -> Double {
        x < 1e-300 ? 1.0 : x / Foundation.expm1(x)
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
        accumulateLogProbabilityGradients(of: [(item, scale)], scores: scores, k: k, into: &gradient)[0]
    }

    /// Adds `Σ_m scale_m · ∂ log P(a_m ∈ S)/∂s` for several chosen items of the *same*
    /// scores with one threshold solve (the solve depends on the scores only), and returns
    /// `log P(a_m ∈ S)` for each. `thresholdHint` is an estimate of `t*` in the unit where
    /// the top weight is 1, e.g. the K-th arrival time `e^{−(v_K − max s)}` of the Gumbel
    /// sample that chose the items (`v_K` its K-th largest perturbed score); it only moves
    /// the Newton start and the hot/cold split, never the result beyond rounding.
    /// Cost: O(N) with one exp per item, plus O(hot) per Newton iteration (see `fastGradients`).
    public func accumulateLogProbabilityGradients(
        of items: [(item: Int, scale: Double)], scores: [Double], k: Int, thresholdHint: Double? = nil,
        into gradient: inout [Double]
    ) -> [Double] {
        precondition(k >= 1, "k must be at least 1 (got \(k))")
        precondition(gradient.count == scores.count, "gradient has \(gradient.count) entries, scores \(scores.count)")
        for (item, _) in items {
            precondition(item >= 0 && item < scores.count, "item \(item) out of range 0..<\(scores.count)")
        }
        if items.isEmpty { return [] }
        if k >= scores.count { return [Double](repeating: 0, count: items.count) }
        var logP = [Double](repeating: 0, count: items.count)
        let fast: Bool = scores.withUnsafeBufferPointer { sb in
            gradient.withUnsafeMutableBufferPointer { gb in
                items.withUnsafeBufferPointer { ib in
                    logP.withUnsafeMutableBufferPointer { lp in
                        var narrowed: Bool? = nil  // stays nil: no narrowing target
                        return Self.fastGradients(of: ib, scores: sb, range: nil, k: k, hint: thresholdHint,
                                                  scratch: ThresholdScratch(), logP: lp.baseAddress, into: gb,
                                                  narrowed: &narrowed)
                    }
                }
            }
        }
        if fast { return logP }
        let solution = Self.solve(scores: scores, k: k)
        var logPsiSoftmax: [Double]? = nil
        var out: [Double] = []
        for (item, scale) in items {
            let logXa = solution.logX[item]
            let xa = Foundation.exp(logXa)
            let phi = Self.phi(xa)
            if phi > 0 {
                if logPsiSoftmax == nil {
                    let logPsi = solution.logX.map { $0 - Foundation.exp($0) }
                    let logSum = StableMath.logSumExp(logPsi)
                    logPsiSoftmax = logPsi.map { Foundation.exp($0 - logSum) }
                }
                let q = logPsiSoftmax!
                for j in q.indices { gradient[j] -= scale * phi * q[j] }
                gradient[item] += scale * phi
            }
            out.append(Self.logInclusion(logX: logXa))
        }
        return out
    }

    /// `accumulateLogProbabilityGradients` without its arrays, for a caller that solves many
    /// rows (the estimator's per-thread workspace): the chosen items, the scores and the
    /// gradient row as raw buffers, the row's `(max, min)` when the caller already knows it
    /// (else one scan), the solve's N-sized buffers from `scratch`, and no `log P` (the
    /// estimator does not use it). Same arithmetic as the array form, bitwise; the rare
    /// log-domain fallback (a weight below e^{−700}) goes through the array form.
    /// Cost: the array form's minus its O(N) allocations and the `log P` terms.
    ///
    /// With `narrowingInto` (a row to overwrite, and `gradient` zero on entry) the fast path
    /// may round its finished row straight into that Float row, leaving `gradient` zero
    /// (`ThresholdHotCold.subtractDecay(…narrowingInto:)`); it then returns whether a narrowed
    /// value is NaN or ±∞. It returns nil when the caller must narrow `gradient` itself.
    @discardableResult
    public func accumulateGradients(
        of items: UnsafeBufferPointer<(item: Int, scale: Double)>, scores: UnsafeBufferPointer<Double>,
        scoreRange: (top: Double, bottom: Double)?, k: Int, thresholdHint: Double?, scratch: ThresholdScratch,
        into gradient: UnsafeMutableBufferPointer<Double>, narrowingInto target: RowNarrowing? = nil
    ) -> Bool? {
        gradients(of: items, scores: scores, scoreRange: scoreRange, k: k, thresholdHint: thresholdHint, scratch: scratch,
                  into: gradient, narrowingInto: target)
    }

    /// `accumulateGradients` of a Float score row read in place (the estimator's Float-row
    /// entry points): bitwise what the Double form gives on the widened row (the one pass
    /// that reads the scores, the fused exp + split, has a float kernel; `scoreRange` is
    /// the same either way), without the widened copy. Same cost, 4 bytes read per item.
    @discardableResult
    public func accumulateGradients(
        of items: UnsafeBufferPointer<(item: Int, scale: Double)>, scores: UnsafeBufferPointer<Float>,
        scoreRange: (top: Double, bottom: Double)?, k: Int, thresholdHint: Double?, scratch: ThresholdScratch,
        into gradient: UnsafeMutableBufferPointer<Double>, narrowingInto target: RowNarrowing? = nil
    ) -> Bool? {
        gradients(of: items, scores: scores, scoreRange: scoreRange, k: k, thresholdHint: thresholdHint, scratch: scratch,
                  into: gradient, narrowingInto: target)
    }

    /// `accumulateGradients` for either element type (`ScoreElement`).
    func gradients<S: ScoreElement>(
        of items: UnsafeBufferPointer<(item: Int, scale: Double)>, scores: UnsafeBufferPointer<S>,
        scoreRange: (top: Double, bottom: Double)?, k: Int, thresholdHint: Double?, scratch: ThresholdScratch,
        into gradient: UnsafeMutableBufferPointer<Double>, narrowingInto target: RowNarrowing? = nil
    ) -> Bool? {
        precondition(k >= 1, "k must be at least 1 (got \(k))")
        precondition(gradient.count == scores.count, "gradient has \(gradient.count) entries, scores \(scores.count)")
        for (item, _) in items {
            precondition(item >= 0 && item < scores.count, "item \(item) out of range 0..<\(scores.count)")
        }
        if items.isEmpty || k >= scores.count { return nil }
        var narrowed: Bool? = nil
        if Self.fastGradients(of: items, scores: scores, range: scoreRange, k: k, hint: thresholdHint, scratch: scratch,
                              logP: nil, into: gradient, narrowingInto: target?.overwrite == true ? target : nil,
                              narrowed: &narrowed) { return narrowed }
        var g = Array(gradient)
        _ = accumulateLogProbabilityGradients(of: Array(items), scores: scores.map { $0.double }, k: k,
                                              thresholdHint: thresholdHint, into: &g)
        _ = gradient.update(fromContentsOf: g)
        return nil
    }

    /// The same solve and gradient in the linear domain, for the common case where no weight
    /// underflows (`s_i − max s > −700` for all i); returns false otherwise, so the log-domain
    /// path handles it. Writes `log P(a_m ∈ S)` to `logP` when given.
    /// Passes over N:
    ///
    /// 1. `w_i = e^{s_i − max s}` (one exp per item) and `Σ w`, fused with step 2 when there
    ///    is a hint (the split is made for `T = 1.5 · hint`, and redone for `1.5 K/Σw` in the
    ///    case `hint ≤ K/Σw`);
    /// 2. the hot/cold split (`ThresholdHotCold`) for `t ≤ T = 1.5 t₀` (t₀ = max(hint, K/Σw)):
    ///    the moments `S_1…S_8` of the cold weights (`w_i T ≤ 0.05`) and the list of hot items;
    ///    a row whose chosen items are all certainly in the set (`φ(x_a) = 0` at t*, shown
    ///    by at most one evaluation) stops here with its exactly zero gradient
    ///    (`allowsCertainExit`, false only in tests that compare against the full solve);
    /// 3. Newton on `τ = log t` from `log t₀` within the bracket `[log(K/Σw), ∞)` (where
    ///    `h ≤ 0` at the left end since `1 − e^{−x} ≤ x`), bisecting when a step leaves it;
    ///    each iteration costs O(#hot) exps plus O(1) for the cold moments, until
    ///    `|Δτ| ≤ max(1e-14, 4 ulp(τ))` (regula falsi instead of bisection when Newton leaves
    ///    the bracket, so an iterate that landed on the root does not cost 40 halvings);
    /// 4. the gradient `g_j −= C w_j e^{−w_j t*}` with `C = Σ_m scale_m φ(x_{a_m}) t*/Σψ`
    ///    (`Σψ = Σ_i x_i e^{−x_i}` is the last Newton slope), exact exps for hot items and
    ///    the degree-8 polynomial for cold ones.
    ///
    /// With a good hint (the K-th arrival time) Newton needs ≈ 3–4 iterations, so the cost
    /// is ≈ one exp and ~20 flops per item instead of one exp per item per iteration.
    static func fastGradients<S: ScoreElement>(
        of items: UnsafeBufferPointer<(item: Int, scale: Double)>, scores: UnsafeBufferPointer<S>,
        range: (top: Double, bottom: Double)?, k: Int, hint: Double?, scratch: ThresholdScratch,
        logP: UnsafeMutablePointer<Double>?, into gradient: UnsafeMutableBufferPointer<Double>,
        narrowingInto target: RowNarrowing? = nil, narrowed: inout Bool?, allowsCertainExit: Bool = true
    ) -> Bool {
        let n = scores.count
        var top = -Double.infinity, bottom = Double.infinity
        if let range {
            (top, bottom) = range
        } else {
            for e in scores {
                let v = e.double
                top = v > top ? v : top
                bottom = v < bottom ? v : bottom
            }
        }
        // A score more than 700 below the top leaves this fast path.
        if bottom - top < -700 { return false }
        scratch.reserve(n)
        let w = scratch.weights
        let hotBuffer = scratch.hot
        func split(_ t: Double) -> ThresholdHotCold {
            ThresholdHotCold(weights: w, count: n, bound: ThresholdHotCold.splitFactor * t, hot: hotBuffer)
        }
        let kd = Double(k)
        var hotCold: ThresholdHotCold
        let tStart: Double, tLow: Double
        if let hint, hint.isFinite, hint > 0 {
            // w_i = e^{s_i − max s} and the split for t ≤ 1.5·hint in one pass; the start is
            // max(hint, K/Σw), so the split is redone only when K/Σw ≥ hint.
            let fused = ThresholdHotCold.exps(scores.baseAddress!, shift: -top, count: n,
                                              bound: ThresholdHotCold.splitFactor * hint, weights: w, hot: hotBuffer)
            tLow = kd / fused.sumWeights
            hotCold = fused.split
            tStart = hint > tLow ? hint : tLow
            if !(hint > tLow) { hotCold = split(tStart) }
        } else {
            // n > k ≥ 1 here, so the row has a base address (`VectorExp.exp`'s kernel, either type).
            let sumW = S.expShifted(scores.baseAddress!, shift: -top, into: w, count: n)
            tLow = kd / sumW
            tStart = tLow
            hotCold = split(tStart)
        }
        // h(t) = Σ(1 − e^{−w_i t}) − K and t·h'(t) = Σ w_i t e^{−w_i t}.
        func evaluate(_ t: Double) -> (h: Double, slopeT: Double) {
            if t > hotCold.bound { hotCold = split(t) }
            var sum = 0.0, slope = 0.0
            do {
                for h in 0..<hotCold.hotCount {
                    let x = w[Int(hotBuffer[h])] * t
                    let ei = ThresholdHotCold.expNeg(x)
                    // 1 − e^{−x} has absolute error ~1e-16 per term (what the sum needs);
                    // below 1e-8 the series x − x²/2 is exact to 2e-17 relative as well.
                    sum += x < 1e-8 ? x * (1 - 0.5 * x) : 1 - ei
                    slope += x * ei
                }
            }
            let cold = hotCold.coldSums(at: t)
            sum += cold.mass
            slope += cold.slope
            return (sum - kd, slope)
        }
        // Every chosen item certainly in the set: when t* ≥ 711/w_a for each chosen a, every
        // x_a = w_a t* exceeds log(DBL_MAX) ≈ 709.78 (with a 0.17 % margin, far above the
        // solve's tolerance), so φ(x_a) = x_a/expm1(x_a) = x_a/∞ = 0 and the gradient is
        // exactly zero: no Newton, no decay pass. t* ≥ t_c is certain when t_c ≤ K/Σw (the
        // bracket's left end) or h(t_c) < −max(10⁻⁹, 10⁻¹⁵ n) K (h is increasing; its
        // rounding, the cold moments' truncation included, is at most ~n ε K ≈ 1.1·10⁻¹⁶ n K,
        // below that margin at every n). h(t_c) costs one evaluation when the split already covers
        // t_c, so the test is only made then. Late in training most rows are like this (a
        // trained ESR's top items are included with probability 1 in floating point).
        if logP == nil && allowsCertainExit {
            var smallest = Double.infinity
            for (item, _) in items { smallest = Swift.min(smallest, w[item]) }
            let tCertain = 711 / smallest
            let margin = Swift.max(1e-9, 1e-15 * Double(n)) * kd
            if tCertain.isFinite && (tCertain <= tLow || (tCertain <= hotCold.bound && evaluate(tCertain).h < -margin)) {
                if let target {
                    target.row.update(repeating: 0, count: n)  // what narrowing the zero row writes
                    narrowed = false
                }
                scratch.certainRows += 1
                return true
            }
        }
        var lo = Foundation.log(tLow), hi = Double.infinity
        var hLo: Double? = nil, hHi = Double.infinity
        var tau = Foundation.log(tStart)
        var last = evaluate(tStart)
        for _ in 0..<200 {
            if last.h == 0 { break }
            if last.h < 0 {
                if tau >= lo { lo = tau; hLo = last.h }
            } else {
                hi = tau; hHi = last.h
            }
            var next = tau - last.h / last.slopeT
            if !(next > lo && next < hi) {
                // Newton left the bracket (typically: an earlier iterate landed within
                // rounding of the root, so the bracket end *is* the root): regula falsi
                // between the bracket ends when both values are known, else bisection.
                next = hi.isFinite ? 0.5 * (lo + hi) : lo + 1
                if let hLo, hi.isFinite {
                    let falsi = lo - hLo * (hi - lo) / (hHi - hLo)
                    if falsi > lo && falsi < hi { next = falsi }
                }
            }
            let tol = Swift.max(1e-14, 4 * tau.ulp)
            let done = Swift.abs(next - tau) <= tol || hi - lo <= tol
            tau = next
            last = evaluate(Foundation.exp(tau))
            if done { break }
        }
        let t = Foundation.exp(tau)
        if t > hotCold.bound { hotCold = split(t) }
        let sumPsi = last.slopeT
        var coefficient = 0.0
        for (m, (item, scale)) in items.enumerated() {
            let xa = w[item] * t
            let phi = Self.phi(xa)
            if phi > 0 && sumPsi > 0 {
                coefficient += scale * phi
                gradient[item] += scale * phi
            }
            if let logP { logP[m] = xa < 1e-300 ? Foundation.log(xa) : Foundation.log(-Foundation.expm1(-xa)) }
        }
        if coefficient != 0 {
            let hot = UnsafeBufferPointer(start: hotBuffer, count: hotCold.hotCount)
            if let target {
                // The gradient row was zero but at the chosen items (the target's contract).
                narrowed = hotCold.subtractDecay(scale: coefficient * t / sumPsi, t: t, weights: w, count: n, hot: hot,
                                                 from: gradient.baseAddress!, nonzero: items, narrowingInto: target.row)
            } else {
                hotCold.subtractDecay(scale: coefficient * t / sumPsi, t: t, weights: w, count: n, hot: hot,
                                      from: gradient.baseAddress!)
            }
        }
        return true
    }
}

/// The N-sized buffers of `ThresholdInclusion`'s linear-domain solve (the weights and the hot
/// indices, 12 bytes per item), reused across rows so a per-thread caller allocates nothing
/// per row (grown on demand, never shrunk). The estimator also lends `weights` to V-PG's
/// Plackett-Luce gradient for its rest weights. Not thread-safe: one per thread.
public final class ThresholdScratch {
    private(set) var weights: UnsafeMutablePointer<Double>
    private(set) var hot: UnsafeMutablePointer<Int32>
    private var capacity = 0
    /// Rows this scratch solved whose chosen items were all certainly included (zero
    /// gradient, no Newton; see `fastGradients`): a count for tests and diagnostics.
    public internal(set) var certainRows = 0

    public init() {
        weights = UnsafeMutablePointer<Double>.allocate(capacity: 1)
        hot = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
    }

    deinit {
        weights.deallocate()
        hot.deallocate()
    }

    /// Makes room for n items (the contents are not kept). O(1), or one allocation when n
    /// exceeds every earlier row.
    func reserve(_ n: Int) {
        if n <= capacity { return }
        weights.deallocate()
        hot.deallocate()
        weights = UnsafeMutablePointer<Double>.allocate(capacity: n)
        hot = UnsafeMutablePointer<Int32>.allocate(capacity: n)
        capacity = n
    }
}
