import Foundation

/// Exact PL top-K inclusion probabilities by the exponential race (DESIGN.md §2).
///
/// A PL top-K prefix is the first K arrivals of independent clocks `T_i ~ Exp(w_i)`. With
/// `u = 1 − e^{−w_a t}` (so `w_a e^{−w_a t} dt = du`) and `x = w_a t = −log(1 − u)`:
///
///   P(a∈S)     = ∫₀¹ C_a(t(u)) du,     C_a(t) = P(#{i≠a : T_i ≤ t} ≤ K−1),
///   ∂P_a/∂s_a  = ∫₀¹ (1 − x) C_a du,
///   ∂P_a/∂s_j  = −∫₀¹ y_j e^{−y_j} · P(#{i∉{a,j} : T_i ≤ t} = K−1) du,   y_j = w_j t  (j ≠ a),
///
/// where the count distributions are Poisson-binomial with `p_i(t) = 1 − e^{−w_i t}`
/// (computed as `−expm1(−w_i t)`, so tiny arrival probabilities keep full precision).
///
/// Numerics:
/// - Every probability is a sum of non-negative products (a DP truncated to counts
///   0…K−1), so small values keep their relative accuracy. The leave-one-out counts
///   `P(#{i∉{a,j}} = K−1)` combine a stored prefix DP over the items before j with a
///   running suffix DP over the items after j, `Σ_c F_{<j}[c] · B_{>j}[K−1−c]`: again only
///   non-negative terms. (Deconvolving j out of the full DP divides by `1 − p_j` and
///   blows up once `p_j > ½`.)
/// - Rates are taken relative to `w_a` (`ρ_i = w_i / w_a`), so time is measured in units
///   of `1/w_a` and `u` is independent of the score offset.
/// - `C_a(u)` is monotone but can change on any time scale between `1/Σw` and `1/w_a`:
///   the quadrature starts from breakpoints that are geometric in `x` (ratio 4) from
///   `1/(16 Σρ)` upward, so no adaptive panel ever straddles a feature far narrower
///   than itself. The grid stops as soon as monotonicity proves the rest negligible
///   (`C_a(x_j)·(2 + x_j)e^{−x_j}` bounds the remaining P and ∂P/∂s_a integrals).
/// - Refinement is driven by the integrands `C_a` and `x·C_a` (so both `P` and
///   `∂P/∂s_a = ∫C_a − ∫x C_a` are error-controlled, relative, without cancellation); the
///   `N−1` gradient integrands are evaluated once afterwards on the accepted nodes.
/// - Wide gaps (any size, e.g. 10^4 nats, where `e^{−gap}` underflows): the scores are first
///   split at the first gap from the top of at least `40 + 2 log N` nats (`ScoreGapSplit`),
///   hot items H (h of them) above, the rest R below. Up to a relative error
///   `δ ≤ N² e^{−gap}/4 < 1e-18`, the first h PL draws are H, so (applied recursively):
///   * h < K: `P_i = 1` for i ∈ H (gradient 0, truly O(δ)); for j ∈ R, `P_j` is the
///     top-(K−h) inclusion probability of R alone (PL is memoryless once H is drawn).
///   * h ≥ K: for i ∈ H, `P_i` is the top-K probability of H alone. For j ∈ R, j enters
///     only by beating the K-th arrival `T_K` of H, so to first order
///     `P_j = E[1 − e^{−w_j T_K}] = w_j E[T_K] (1 − O(w_j E[T_K]))`, and `w_j E[T_K] ≤
///     K w_j / w_(h)`. It is evaluated by the race on H ∪ {j'} with j' a stand-in for j
///     at `s_(h) − 40` (`firstOrderGap`), then shifted: `log P_j = log P_{j'} + s_j − s_{j'}`,
///     relative error `≤ K e^{−40} ≈ 4e-18·K`; `∂ log P_j/∂s_j = 1` and `∂/∂s_i` (i ∈ H)
///     is the stand-in's (that of `log E[T_K]`, to the same order); others are O(δ) → 0.
///   `log P` is then exact in the log domain (`P_j = e^{−10^4}` returns −10^4 + O(1)), while
///   `probabilities` returns `exp` of it (0 once it underflows).
/// - Far above a, without a gap (a chain of narrower gaps, e.g. 25 items 30 nats apart):
///   `ρ_i = e^{s_i − s_a}` may overflow to +∞ (beyond 709 nats). Such an item has arrived at
///   every time the quadrature looks at (`p_i = 1`, `q_i = 0` exactly; its leave-one-out
///   term is 0), which is right: the grid starts at `x = 1e-300` (`smallestTime`), where
///   any rate above e^{700} has arrived with probability 1 − e^{−10^4}. Ignoring `u < 1e-300`
///   changes `P_a` by at most 1e-300 absolute (relative 1e-12 down to P_a ≈ 1e-288).
///   Limit: inside such a chain, a `P_a` below ~1e-287 (e.g. the bottom items of the chain
///   with small K) is not resolved: log P is then only known to be below about −660
///   (it is floored at log of the smallest normal, −708). Resolving it would need the
///   integral split at `x ≈ 1/Σρ` and carried in the log domain; wide gaps never reach this
///   path (they are peeled, and there `log P` is exact at any size). (An
///   earlier clamp, s_a raised to 650 nats below the top, broke such chains: 25 items 30
///   nats apart with K = 24 gave Σ P = 25.) Rates that underflow to 0 are items that
///   never arrive in time.
///
/// Cost per item: O(N·K) per quadrature node for the probability, O(N·K) per node and
/// O(N·K) memory (the prefix table) for the gradient; typically 100–500 nodes.
public struct ExactInclusion: InclusionModel {
    public var kind: InclusionModelKind { .exact }

    /// Relative tolerance on `P(a∈S)` and on `∫ x C_a du` (the ∂/∂s_a integral).
    public var tolerance: Double
    /// Cap on quadrature panels per item (15 nodes each).
    public var maximumPanels: Int

    /// Start of the breakpoint grid in `x = w_a t` when `Σρ` is astronomically large: the
    /// integral over `u < 1e-300` is at most 1e-300 and is skipped.
    static let smallestTime = 1e-300

    /// Grid ratio of the initial geometric breakpoints in `x = w_a t`.
    static let gridRatio = 4.0

    /// Defaults give `P(a∈S)` to about 1e-13 relative (the tests check 1e-12 absolute
    /// against brute-force enumeration). O(1).
    public init(tolerance: Double = 1e-13, maximumPanels: Int = 4000) {
        precondition(tolerance > 0, "tolerance must be positive")
        self.tolerance = tolerance
        self.maximumPanels = maximumPanels
    }

    /// Log-weight gap below the hot cluster at which a first-order item's stand-in is raced
    /// (see the type's doc: relative error ≤ K e^{−40}).
    static let firstOrderGap = 40.0

    /// `P(a∈S)` for every item a (`exp` of `logProbability`, so 0 where it underflows).
    /// O(N² · K · nodes): one adaptive quadrature per item (for validation and small N).
    public func probabilities(scores: [Double], k: Int) -> [Double] {
        precondition(k >= 1, "k must be at least 1 (got \(k))")
        let n = scores.count
        if k >= n { return [Double](repeating: 1, count: n) }
        var unused: [Double] = []
        return (0..<n).map { a in
            Foundation.exp(logInclusion(of: a, scores: scores, k: k, scale: 0, gradient: &unused, withGradient: false))
        }
    }

    /// `log P(a∈S)` alone (the value `accumulateLogProbabilityGradient` returns).
    /// O(N · K · nodes).
    public func logProbability(of item: Int, scores: [Double], k: Int) -> Double {
        precondition(k >= 1, "k must be at least 1 (got \(k))")
        precondition(item >= 0 && item < scores.count, "item \(item) out of range 0..<\(scores.count)")
        var unused: [Double] = []
        return logInclusion(of: item, scores: scores, k: k, scale: 0, gradient: &unused, withGradient: false)
    }

    /// Adds `scale · ∂ log P(a∈S)/∂s_j` to `gradient[j]` and returns `log P(a∈S)`:
    ///
    ///   ∂ log P_a/∂s_a = 1 − ∫x C_a du / ∫C_a du,
    ///   ∂ log P_a/∂s_j = −∫ y_j e^{−y_j} P(#{i∉{a,j}} = K−1) du / ∫C_a du   (j ≠ a),
    ///
    /// after peeling wide gaps (see the type's doc). O(N · K · nodes) time (adaptive pass,
    /// then one prefix/suffix DP pass over the accepted nodes) and O(N · K) memory.
    public func accumulateLogProbabilityGradient(
        of item: Int, scores: [Double], k: Int, scale: Double, into gradient: inout [Double]
    ) -> Double {
        checkGradientArguments(item: item, scores: scores, k: k, gradient: gradient)
        return logInclusion(of: item, scores: scores, k: k, scale: scale, gradient: &gradient, withGradient: true)
    }

    /// `log P(a∈S)` with wide gaps peeled off (recursively), adding `scale · ∂ log P/∂s_j`
    /// to `gradient` when `withGradient`. O(N log N) per peel plus the races.
    func logInclusion(of a: Int, scores: [Double], k: Int, scale: Double,
                      gradient: inout [Double], withGradient: Bool) -> Double {
        if k >= scores.count { return 0 }
        guard let split = ScoreGapSplit(scores: scores) else {
            return raceLogInclusion(of: a, scores: scores, k: k, scale: scale, gradient: &gradient, withGradient: withGradient)
        }
        let h = split.hot.count
        // Solves a sub-problem on `subset` (plus optional stand-in score) and scatters its
        // gradient back to the caller's indices.
        func onSubset(_ subset: [Int], standIn: Double?, item: Int, k: Int, peel: Bool) -> Double {
            var sub = subset.map { scores[$0] }
            if let standIn { sub.append(standIn) }
            var g = withGradient ? [Double](repeating: 0, count: sub.count) : []
            let lp = peel
                ? logInclusion(of: item, scores: sub, k: k, scale: scale, gradient: &g, withGradient: withGradient)
                : raceLogInclusion(of: item, scores: sub, k: k, scale: scale, gradient: &g, withGradient: withGradient)
            if withGradient { for (i, j) in subset.enumerated() { gradient[j] += g[i] } }
            return lp  // the stand-in's own entry is replaced by the exact first-order 1
        }
        if h < k {
            // H is drawn first; P_i = 1 for i ∈ H, R plays top-(K−h) on its own.
            guard let position = split.rest.firstIndex(of: a) else { return 0 }
            return onSubset(split.rest, standIn: nil, item: position, k: k - h, peel: true)
        }
        if let position = split.hot.firstIndex(of: a) {
            // H has no wide gap left (it was split at the first one): race directly.
            return onSubset(split.hot, standIn: nil, item: position, k: k, peel: false)
        }
        // First order: log P_a = log P_{a'} + s_a − s_{a'}, ∂ log P_a/∂s_a = 1.
        let standIn = split.lowestHotScore - Self.firstOrderGap
        let lp = onSubset(split.hot, standIn: standIn, item: h, k: k, peel: false)
        if withGradient { gradient[a] += scale }
        return lp + (scores[a] - standIn)
    }

    /// `log P(a∈S)` (and its gradient) by the exponential race on all of `scores`.
    /// O(N · K · nodes).
    func raceLogInclusion(of a: Int, scores: [Double], k: Int, scale: Double,
                          gradient: inout [Double], withGradient: Bool) -> Double {
        if k >= scores.count { return 0 }
        let race = ExponentialRace(scores: scores, item: a, k: k)
        let adapted = race.integrate(quadrature: quadrature)
        guard withGradient else {
            return Foundation.log(Swift.max(adapted.integral[0], Double.leastNormalMagnitude))
        }
        let g = race.gradientIntegrals(on: adapted)
        let p = Swift.max(g.probability, Double.leastNormalMagnitude)
        gradient[a] += scale * (1 - g.timeWeighted / p)
        for (idx, j) in race.others.enumerated() {
            gradient[j] -= scale * g.leaveOneOut[idx] / p
        }
        return Foundation.log(p)
    }

    var quadrature: AdaptiveQuadrature {
        AdaptiveQuadrature(relativeTolerance: tolerance, absoluteTolerance: 0, maximumPanels: maximumPanels)
    }
}

/// The exponential race seen from item a, in the time unit `1/w_a`: the other items'
/// relative rates and the Poisson-binomial DPs of their arrival counts.
struct ExponentialRace {
    let k: Int
    /// Indices of the items other than a, increasing.
    let others: [Int]
    /// `ρ_i = w_i / w_a` for `others[i]`.
    let rates: [Double]

    init(scores: [Double], item a: Int, k: Int) {
        let n = scores.count
        precondition(k >= 1 && k < n)
        var others: [Int] = [], rates: [Double] = []
        others.reserveCapacity(n - 1); rates.reserveCapacity(n - 1)
        for i in 0..<n where i != a {
            others.append(i)
            // +∞ (over 709 nats above a) means "arrived at once", 0 "never arrives".
            rates.append(Foundation.exp(scores[i] - scores[a]))
        }
        self.k = k
        self.others = others
        self.rates = rates
    }

    /// `C_a = P(#{i≠a : T_i ≤ t} ≤ K−1)` at `x = w_a t` by the forward DP over counts
    /// 0…K−1 (mass reaching K is dropped: it never returns below K). O(N·K).
    func cdf(x: Double, scratch f: inout [Double]) -> Double {
        let k = self.k
        f.withUnsafeMutableBufferPointer { f in
            f[0] = 1
            for c in 1..<k { f[c] = 0 }
            rates.withUnsafeBufferPointer { rho in
                var top = 0  // highest count with non-zero mass so far
                for i in 0..<rho.count {
                    let y = rho[i] * x
                    let p = -Foundation.expm1(-y), q = Foundation.exp(-y)
                    if top < k - 1 { top += 1 }
                    var c = top
                    while c >= 1 { f[c] = f[c] * q + f[c - 1] * p; c -= 1 }
                    f[0] *= q
                }
            }
        }
        var s = 0.0
        for c in 0..<k { s += f[c] }
        return s
    }

    /// Breakpoints in `u` for the adaptive pass: 0, `u(x_j)` for the geometric grid
    /// `x_j = 4^j / (16 Σρ)` while `x_j < 36` (beyond, `1 − u < 2.4e-16`), cut short once
    /// `C_a(x_j)(2 + x_j)e^{−x_j}` (a bound on everything after `x_j`, by monotonicity of
    /// `C_a`) drops below 1e-3 · tolerance · (a lower bound on P), then 1.
    func breakpoints(tolerance: Double) -> [Double] {
        var totalRate = 1.0
        for r in rates { totalRate += r }
        var f = [Double](repeating: 0, count: k)
        var points: [Double] = [0]
        var x = Swift.max(1 / (16 * totalRate), ExactInclusion.smallestTime)
        var lowerBound = 0.0
        while x < 36 {
            let u = -Foundation.expm1(-x)
            guard u > points[points.count - 1] && u < 1 else { break }
            let c = cdf(x: x, scratch: &f)
            lowerBound += c * (u - points[points.count - 1])
            points.append(u)
            if c * (2 + x) * Foundation.exp(-x) <= 1e-3 * tolerance * lowerBound { break }
            x *= ExactInclusion.gridRatio
        }
        points.append(1)
        return points
    }

    /// Adaptive pass on the driver integrands `[C_a, x·C_a]` over `u ∈ [0, 1]`.
    func integrate(quadrature: AdaptiveQuadrature) -> AdaptiveQuadrature.Result {
        var f = [Double](repeating: 0, count: k)
        return quadrature.integrate(breakpoints: breakpoints(tolerance: quadrature.relativeTolerance), dimension: 2) { u, out in
            // A node of a panel bisected down to floating-point width may round onto
            // u = 1 (x = ∞); every integrand's limit there is 0 because K < N.
            guard u < 1 else { out[0] = 0; out[1] = 0; return }
            let x = Swift.max(-Foundation.log1p(-u), ExactInclusion.smallestTime)
            let c = cdf(x: x, scratch: &f)
            out[0] = c
            out[1] = x * c
        }
    }

    /// `∫C_a du`, `∫x C_a du` and, for each other item j, `∫ y_j e^{−y_j} P(#{i∉{a,j}} = K−1) du`
    /// on the accepted nodes of `adapted`. Per node: a forward DP storing the prefix
    /// distributions `F_{<j}` (O(N·K) memory), then a backward sweep that carries the
    /// suffix distribution `B_{>j}` and combines `Σ_c F_{<j}[c] B_{>j}[K−1−c]`. O(N·K) per node.
    func gradientIntegrals(on adapted: AdaptiveQuadrature.Result)
        -> (probability: Double, timeWeighted: Double, leaveOneOut: [Double])
    {
        let k = self.k, m = rates.count
        var prefix = [Double](repeating: 0, count: (m + 1) * k)
        var suffix = [Double](repeating: 0, count: k)
        var p = [Double](repeating: 0, count: m), q = [Double](repeating: 0, count: m)
        var leaveOneOut = [Double](repeating: 0, count: m)
        var probability = 0.0, timeWeighted = 0.0
        adapted.forEachNode { u, weight in
            guard u < 1 else { return }  // x = ∞: all integrands vanish (see `integrate`)
            let x = Swift.max(-Foundation.log1p(-u), ExactInclusion.smallestTime)
            for i in 0..<m {
                let y = rates[i] * x
                p[i] = -Foundation.expm1(-y)
                q[i] = Foundation.exp(-y)
            }
            prefix.withUnsafeMutableBufferPointer { F in
                for c in 0..<k { F[c] = 0 }
                F[0] = 1
                for i in 0..<m {
                    let from = i * k, to = from + k
                    F[to] = F[from] * q[i]
                    for c in 1..<k { F[to + c] = F[from + c] * q[i] + F[from + c - 1] * p[i] }
                }
                var c = 0.0
                for j in 0..<k { c += F[m * k + j] }
                probability += weight * c
                timeWeighted += weight * x * c
                suffix.withUnsafeMutableBufferPointer { B in
                    B[0] = 1
                    for j in 1..<k { B[j] = 0 }
                    for i in stride(from: m - 1, through: 0, by: -1) {
                        let from = i * k
                        var d = 0.0
                        for j in 0..<k { d += F[from + j] * B[k - 1 - j] }
                        // y e^{−y} with y = ρ_i x: exactly 0 once e^{−y} underflows (y may be +∞).
                        if q[i] > 0 { leaveOneOut[i] += weight * (rates[i] * x) * q[i] * d }
                        var j = k - 1
                        while j >= 1 { B[j] = B[j] * q[i] + B[j - 1] * p[i]; j -= 1 }
                        B[0] *= q[i]
                    }
                }
            }
        }
        return (probability, timeWeighted, leaveOneOut)
    }
}
