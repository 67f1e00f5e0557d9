import CAPGCore
import Foundation

/// The per-query sums one iteration of the threshold solve needs, over all N items at
/// `x_i = e^{s_i − m + τ}` (m = max s, τ = log t). With the items split at `x = ln 2` into
/// "saturated" (P > ½) and "small" ones,
///
///   h(τ) = Σ_i (1 − e^{−x_i}) − K = A − D,   A = Σ_small (1 − e^{−x_i}),   D = (K − n_sat) + B,
///   B = Σ_sat e^{−x_i},   dA/dτ = Σ_small x_i e^{−x_i} = ψ_small,   dD/dτ = −Σ_sat x_i e^{−x_i} = −ψ_sat.
///
/// Why the split: summed as is, `1 − e^{−x}` of a saturated item rounds to 1 and h loses
/// everything below 1e-16, so when the race is decided by tiny masses (K = 1 and the top item
/// far above the rest: the missing mass `e^{−x_top}` of the top item against the rest's
/// `Σ x_i`, both ≈ 1e-100) the root would be noise; and Newton on h there crawls (steps of
/// 1/t). The driver instead solves `log A = log D` (both sides known to full relative
/// precision, `n_sat` exactly), which is near-linear in τ in that regime and equivalent to
/// `h = 0` elsewhere. Additive over shards: the caller sum-reduces 5 doubles per query.
public struct ThresholdMoments: Hashable, Sendable {
    /// `n_sat = #{i : x_i > ln 2}` (an exact integer in a Double).
    public var saturated: Double
    /// `A = Σ_{x_i ≤ ln 2} (1 − e^{−x_i})`.
    public var smallMass: Double
    /// `B = Σ_{x_i > ln 2} e^{−x_i}`.
    public var saturatedDeficit: Double
    /// `ψ_small = Σ_{x_i ≤ ln 2} x_i e^{−x_i}`.
    public var smallSlope: Double
    /// `ψ_sat = Σ_{x_i > ln 2} x_i e^{−x_i}`.
    public var saturatedSlope: Double

    public init(saturated: Double = 0, smallMass: Double = 0, saturatedDeficit: Double = 0, smallSlope: Double = 0,
                saturatedSlope: Double = 0) {
        self.saturated = saturated; self.smallMass = smallMass; self.saturatedDeficit = saturatedDeficit
        self.smallSlope = smallSlope; self.saturatedSlope = saturatedSlope
    }

    public static let zero = ThresholdMoments()

    /// Doubles per query in a packed payload.
    public static let packedWidth = 5

    public static func + (a: ThresholdMoments, b: ThresholdMoments) -> ThresholdMoments {
        ThresholdMoments(saturated: a.saturated + b.saturated, smallMass: a.smallMass + b.smallMass,
                         saturatedDeficit: a.saturatedDeficit + b.saturatedDeficit,
                         smallSlope: a.smallSlope + b.smallSlope, saturatedSlope: a.saturatedSlope + b.saturatedSlope)
    }

    /// `D = (K − n_sat) + B`, the mass the saturated items miss of K.
    public func deficit(k: Int) -> Double { (Double(k) - saturated) + saturatedDeficit }
    /// `h(τ) = A − D`.
    public func h(k: Int) -> Double { smallMass - deficit(k: k) }
    /// `h'(τ) = Σ_i x_i e^{−x_i} = Σψ`.
    public var slope: Double { smallSlope + saturatedSlope }

    var fields: [Double] { [saturated, smallMass, saturatedDeficit, smallSlope, saturatedSlope] }

    /// The fields per query, queries in order: one flat sum-reduce payload of 5Q doubles.
    public static func pack(_ moments: [ThresholdMoments]) -> [Double] { moments.flatMap(\.fields) }

    /// The packed payload of a chunk's queries: `moments(q, τ_q)` where the driver asks for
    /// an evaluation point, zeros for finished queries (`points[q] == nil`). One helper for
    /// both the exact and the hot/cold kernels.
    public static func payload<E: Error>(points: [Double?], _ moments: (Int, Double) throws(E) -> ThresholdMoments) throws(E) -> [Double] {
        var out: [ThresholdMoments] = []
        out.reserveCapacity(points.count)
        for (q, point) in points.enumerated() { out.append(try point.map { tau throws(E) in try moments(q, tau) } ?? .zero) }
        return pack(out)
    }

    /// Inverse of `pack`; throws unless the count is a multiple of 5.
    public static func unpack(_ payload: [Double]) throws(ShardingError) -> [ThresholdMoments] {
        guard payload.count % packedWidth == 0 else {
            throw .payloadCountMismatch(expected: payload.count / packedWidth * packedWidth, got: payload.count)
        }
        return (0..<(payload.count / packedWidth)).map { q in
            let f = payload[(packedWidth * q)..<(packedWidth * q + packedWidth)].map { $0 }
            return ThresholdMoments(saturated: f[0], smallMass: f[1], saturatedDeficit: f[2], smallSlope: f[3],
                                    saturatedSlope: f[4])
        }
    }
}

/// The solved race of one query: `logT = τ* = log t*` (unit: top weight 1) and
/// `sumPsi = Σ_i x_i e^{−x_i}` at τ* (the gradient's normalizer).
public struct ThresholdSolution: Hashable, Sendable {
    public var logT: Double
    public var sumPsi: Double
    /// Newton/bracketing iterations (= moment reductions) spent.
    public var iterations: Int
    /// False when the iteration cap stopped the solve (the last iterate is kept).
    public var converged: Bool
    /// K ≥ N: every item is included with probability 1 and every gradient is 0.
    public var isTrivial: Bool

    /// Whether `sumPsi` is too close to underflow for `ψ_j / Σψ` to be formed in the linear
    /// domain (every item saturated at P ≈ 0 or 1): then use
    /// `ShardedThresholdInclusion.localLogPsiMax`/`localPsiSum` (one more max + sum
    /// reduction) for the gradient's `PsiNormalization`.
    public var needsPsiRescue: Bool { !isTrivial && !(sumPsi >= 1e-280) }
}

/// `ψ_j / Σψ = e^{log ψ_j − logShift} / sum` with `log ψ_j = log x_j − x_j`.
public struct PsiNormalization: Hashable, Sendable {
    public var logShift: Double
    public var sum: Double

    public init(logShift: Double, sum: Double) { self.logShift = logShift; self.sum = sum }

    /// The linear-domain normalizer of a solution (`logShift = 0`, `sum = Σψ`).
    public init(_ solution: ThresholdSolution) { self.init(logShift: 0, sum: solution.sumPsi) }
}

/// The Newton driver of the sharded threshold solve for a chunk of Q queries:
/// `h(τ) = Σ_i (1 − e^{−e^{ℓ_i + τ}}) − K = 0`, `ℓ_i = s_i − max s`, increasing in τ with
/// `h'(τ) = Σ_i x_i e^{−x_i}` — `ThresholdInclusion`'s equation. Start at the hint (or the
/// left bracket end `τ_lo = log(K / Σ_i e^{ℓ_i})`, where `h ≤ 0` since `1 − e^{−x} ≤ x`);
/// Newton on τ for `log A − log D = 0` (see `ThresholdMoments`; on h when a side vanishes)
/// inside the bracket `[τ_lo, ∞)` kept by the sign of h, until `|Δτ| ≤ max(1e-14, 4 ulp(τ))`.
/// Safeguards (each iteration costs a reduction round, so a stall costs more than in the
/// full-row solver): while no upper end is known a step is at most 2, 4, 8, … (a flat h in a
/// score gap would otherwise send Newton to τ ≈ 1e120); when Newton leaves the bracket,
/// regula falsi once, then bisection. The solution keeps the last *evaluated* τ (within the
/// tolerance of the next step), so `sumPsi` belongs to it without an extra round.
///
/// Protocol: read `evaluationPoints` (τ per query, nil for a finished one), let every shard
/// compute `ShardedThresholdInclusion.localMoments` at those points, sum-reduce the 5Q
/// doubles (`ThresholdMoments.pack`), `step(_:)`; repeat until `isFinished`. Finished queries
/// never change (their moments are ignored, so shards may send zeros for them). Cost: O(Q)
/// per step; measured ≈ 3–5 steps with the Gumbel hint on ordinary rows, ≤ 20 at score
/// gaps of 2000, at most `iterationCap`.
public struct ThresholdDriver: Sendable {
    struct QueryState: Sendable {
        var tau: Double
        var lo: Double
        var hi = Double.infinity
        var hLo: Double? = nil
        var hHi = Double.infinity
        var iterations = 0
        /// Largest upward step while no upper bracket end is known (doubles when used).
        var expansion = 2.0
        /// Consecutive iterations where Newton left the bracket.
        var fallbacks = 0
        var solution: ThresholdSolution? = nil
    }

    public let k: Int
    public let iterationCap: Int
    var states: [QueryState]

    /// `logSumWeights[q] = log Σ_i e^{s_i − max s}` of query q (e.g.
    /// `LogPartition.logTotal − maximum`; ≥ 0 since the top weight is 1); `logHints[q]`, when
    /// finite, is an estimate of τ*, e.g. `max s − v_K` with `v_K` the K-th perturbed score of
    /// the Gumbel sample (the K-th arrival time): it moves the start, not the root.
    /// `itemCount` = N (K ≥ N is the trivial case).
    public init(k: Int, itemCount: Int, logSumWeights: [Double], logHints: [Double?]? = nil, iterationCap: Int = 100) {
        precondition(k >= 1, "k must be at least 1 (got \(k))")
        precondition(logHints == nil || logHints!.count == logSumWeights.count, "one hint per query")
        self.k = k
        self.iterationCap = iterationCap
        let logK = Foundation.log(Double(k))
        states = logSumWeights.indices.map { q in
            let lo = logK - logSumWeights[q]
            var start = lo
            if let h = logHints?[q] ?? nil, h.isFinite, h > lo { start = h }
            var state = QueryState(tau: start, lo: lo)
            if k >= itemCount {
                state.solution = ThresholdSolution(logT: .infinity, sumPsi: 0, iterations: 0, converged: true, isTrivial: true)
            }
            return state
        }
    }

    /// Query count Q.
    public var count: Int { states.count }

    /// τ at which each unfinished query needs its moments next (nil: finished).
    public var evaluationPoints: [Double?] { states.map { $0.solution == nil ? $0.tau : nil } }

    /// Every query of the chunk is solved (or capped).
    public var isFinished: Bool { states.allSatisfy { $0.solution != nil } }

    /// The solutions (nil for an unfinished query).
    public var solutions: [ThresholdSolution?] { states.map(\.solution) }

    /// One iteration for every unfinished query from its globally reduced moments at
    /// `evaluationPoints` (`moments.count` must be Q). O(Q).
    public mutating func step(_ moments: [ThresholdMoments]) throws(ShardingError) {
        guard moments.count == states.count else { throw .payloadCountMismatch(expected: states.count, got: moments.count) }
        for q in states.indices where states[q].solution == nil {
            Self.advance(&states[q], moments[q], k: k, cap: iterationCap)
        }
    }

    /// One safeguarded Newton update from the reduced moments at `st.tau`.
    static func advance(_ st: inout QueryState, _ moments: ThresholdMoments, k: Int, cap: Int) {
        let h = moments.h(k: k), slope = moments.slope
        st.iterations += 1
        func finish(_ converged: Bool) {
            st.solution = ThresholdSolution(logT: st.tau, sumPsi: slope, iterations: st.iterations,
                                            converged: converged, isTrivial: false)
        }
        if h == 0 { return finish(true) }
        if h < 0 {
            if st.tau >= st.lo { st.lo = st.tau; st.hLo = h }
        } else {
            st.hi = st.tau; st.hHi = h
        }
        let tol = Swift.max(1e-14, 4 * st.tau.ulp)
        // Newton on F(τ) = log A − log D (F' = ψ_small/A + ψ_sat/D) when both masses are
        // positive, else on h.
        let a = moments.smallMass, d = moments.deficit(k: k)
        var next: Double
        if a > 0 && d > 0 {
            next = st.tau - (Foundation.log(a) - Foundation.log(d)) / (moments.smallSlope / a + moments.saturatedSlope / d)
        } else {
            next = st.tau - h / slope
        }
        // Converged: the Newton step is below the tolerance (it may even round to τ itself,
        // which sits on a bracket end by now, so this test comes before the bracket test).
        if Swift.abs(next - st.tau) <= tol { return finish(true) }
        if !st.hi.isFinite && !(next <= st.tau + st.expansion) {
            // No upper end yet and a huge (or infinite) Newton step (h flat: every item
            // saturated or negligible; or log D about to fall like −e^τ): grow the step
            // geometrically instead, so the first bracket end overshoots the root by at most
            // a factor 2 in the distance travelled.
            next = Swift.max(st.lo, st.tau) + st.expansion
            st.expansion *= 2
        }
        if next > st.lo && next < st.hi {
            st.fallbacks = 0
        } else {
            // Newton left the bracket (typically an earlier iterate landed within rounding of
            // the root): regula falsi between the ends, bisection if that also fails or if
            // the previous step already fell back (falsi can stall at one end).
            st.fallbacks += 1
            if st.hi.isFinite {
                next = 0.5 * (st.lo + st.hi)
            } else {
                next = st.lo + st.expansion
                st.expansion *= 2
            }
            if let hLo = st.hLo, st.hi.isFinite, st.fallbacks < 2 {
                let falsi = st.lo - hLo * (st.hi - st.lo) / (st.hHi - hLo)
                if falsi > st.lo && falsi < st.hi { next = falsi }
            }
        }
        if st.hi - st.lo <= tol { return finish(true) }
        if st.iterations >= cap { return finish(false) }
        st.tau = next
    }
}

/// CA-PG's threshold inclusion model (`ThresholdInclusion`) on an item-sharded row:
///
///   P(a ∈ S) ≈ 1 − e^{−x_a},  x_i = e^{s_i − m + τ*},  Σ_i (1 − e^{−x_i}) = K,
///   ∂ log P_a/∂s_j = φ(x_a) (δ_aj − ψ_j / Σ_i ψ_i),  φ(x) = x/(e^x − 1),  ψ_i = x_i e^{−x_i}.
///
/// Phases per query: global max m (`ShardedLogSumExp`, 1 max-reduce; its sum-reduce gives
/// `Σ e^{s−m}` for the bracket), then `ThresholdDriver` with `localMoments` (≈ I iterations ×
/// 5 doubles sum-reduced), then `accumulateShardGradient` (local; the chosen items' raw
/// scores come with the merged candidates). Only when every ψ underflows
/// (`needsPsiRescue`) one more max + sum reduction forms `ψ_j/Σψ` in the log domain.
/// These are the exact (log-domain) kernels, 2 exps per item per round;
/// `ThresholdShardRow` runs the same phases with a hot/cold split and falls back to them.
public enum ShardedThresholdInclusion {
    static let ln2 = Foundation.log(2.0)

    /// Local moments of the shard's items at `τ = logT`, `m = shift` (the global max).
    /// O(n_s) with two exps per item.
    public static func localMoments(scores: [Double], shard: ItemShard, shift m: Double, logT tau: Double)
        throws(ShardingError) -> ThresholdMoments
    {
        guard scores.count == shard.count else { throw .scoreCountMismatch(expected: shard.count, got: scores.count) }
        var out = ThresholdMoments.zero
        for v in scores {
            let x = Foundation.exp(v - m + tau)
            if x > ln2 {
                out.saturated += 1
                let e = Foundation.exp(-x)  // 0 once x ≥ 746 (x may be +∞)
                out.saturatedDeficit += e
                if x < 746 { out.saturatedSlope += x * e }
            } else {
                out.smallMass -= Foundation.expm1(-x)
                out.smallSlope += x * Foundation.exp(-x)
            }
        }
        return out
    }

    /// `localMoments` for a chunk of Q queries as one sum-reduce payload of 5Q doubles
    /// (`ThresholdMoments.pack` order): `rows[q]` is the shard's scores of query q, `shifts[q]`
    /// its global max, `points` the driver's `evaluationPoints` (zeros for finished queries).
    public static func localMomentsPayload(rows: [[Double]], shard: ItemShard, shifts: [Double], points: [Double?])
        throws(ShardingError) -> [Double]
    {
        guard shifts.count == rows.count else { throw .payloadCountMismatch(expected: rows.count, got: shifts.count) }
        guard points.count == rows.count else { throw .payloadCountMismatch(expected: rows.count, got: points.count) }
        return try ThresholdMoments.payload(points: points) { q, tau throws(ShardingError) in
            try localMoments(scores: rows[q], shard: shard, shift: shifts[q], logT: tau)
        }
    }

    /// Rescue phase 1: `max_{j ∈ shard} log ψ_j = ℓ_j + τ − e^{ℓ_j + τ}`; caller max-reduces.
    public static func localLogPsiMax(scores: [Double], shard: ItemShard, shift m: Double, logT tau: Double)
        throws(ShardingError) -> Double
    {
        guard scores.count == shard.count else { throw .scoreCountMismatch(expected: shard.count, got: scores.count) }
        var best = -Double.infinity
        for v in scores {
            let l = v - m + tau
            best = Swift.max(best, l - Foundation.exp(l))
        }
        return best
    }

    /// Rescue phase 2: `Σ_{j ∈ shard} e^{log ψ_j − logShift}`; caller sum-reduces, and
    /// `PsiNormalization(logShift:sum:)` of the two results replaces the linear one.
    public static func localPsiSum(scores: [Double], shard: ItemShard, shift m: Double, logT tau: Double,
                                   logShift: Double) throws(ShardingError) -> Double
    {
        guard scores.count == shard.count else { throw .scoreCountMismatch(expected: shard.count, got: scores.count) }
        var sum = 0.0
        for v in scores {
            let l = v - m + tau
            sum += Foundation.exp(l - Foundation.exp(l) - logShift)
        }
        return sum
    }

    /// Adds `Σ_c scale_c · ∂ log P(a_c ∈ S)/∂s_j` for the shard's items j only (`gradient`
    /// has the shard's n_s entries) and returns `log P(a_c ∈ S)` per chosen item. The chosen
    /// items may live on any shard: only their raw scores are used. With every shard's part
    /// concatenated this is `ThresholdInclusion.accumulateLogProbabilityGradients` on the full
    /// row (to the solver's precision). O(n_s) with two exps per item.
    @discardableResult
    public static func accumulateShardGradient(
        chosen: [(item: Int, score: Double, scale: Double)], scores: [Double], shard: ItemShard, shift m: Double,
        solution: ThresholdSolution, psi: PsiNormalization? = nil, into gradient: inout [Double]
    ) throws(ShardingError) -> [Double] {
        guard scores.count == shard.count else { throw .scoreCountMismatch(expected: shard.count, got: scores.count) }
        guard gradient.count == shard.count else { throw .scoreCountMismatch(expected: shard.count, got: gradient.count) }
        if solution.isTrivial { return [Double](repeating: 0, count: chosen.count) }
        let tau = solution.logT
        let norm = psi ?? PsiNormalization(solution)
        let (coefficient, logP) = chosenTerms(chosen, shard: shard, shift: m, logT: tau, norm: norm, into: &gradient)
        if coefficient != 0 {
            // −C ψ_j / Σψ, with ψ_j = e^{log x_j − x_j − logShift} (0 once x_j ≥ 746 when unshifted).
            let c = coefficient / norm.sum
            for j in scores.indices {
                let l = scores[j] - m + tau
                let x = Foundation.exp(l)
                if x < 746 || norm.logShift != 0 {
                    gradient[j] -= c * Foundation.exp(l - x - norm.logShift)
                }
            }
        }
        return logP
    }

    /// The chosen items' part of the gradient: adds `scale_c φ(x_{a_c})` at `a_c` when it is
    /// a local item, and returns `C = Σ_c scale_c φ(x_{a_c})` (the `ψ_j/Σψ` term's weight)
    /// and `log P(a_c ∈ S)` per chosen item. O(#chosen).
    static func chosenTerms(_ chosen: [(item: Int, score: Double, scale: Double)], shard: ItemShard, shift m: Double,
                            logT tau: Double, norm: PsiNormalization, into gradient: inout [Double])
        -> (coefficient: Double, logP: [Double])
    {
        var coefficient = 0.0
        var logP: [Double] = []
        logP.reserveCapacity(chosen.count)
        for (item, score, scale) in chosen {
            let logXa = score - m + tau
            let phi = ThresholdInclusion.phi(Foundation.exp(logXa))
            if phi > 0 && norm.sum > 0 {
                coefficient += scale * phi
                if shard.contains(item) { gradient[item - shard.lo] += scale * phi }
            }
            logP.append(ThresholdInclusion.logInclusion(logX: logXa))
        }
        return (coefficient, logP)
    }
}
