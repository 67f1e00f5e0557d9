import CAPGCore
import Foundation

/// The per-query sums one Newton iteration of the threshold solve needs, over all N items at
/// `x_i = e^{s_i − m + τ}` (m = max s, τ = log t):
/// `inclusionSum = Σ_i (1 − e^{−x_i})` and `slope = Σ_i x_i e^{−x_i}` (= dh/dτ).
/// Additive over shards: the caller sum-reduces the shards' values (2 doubles per query).
public struct ThresholdMoments: Hashable, Sendable {
    public var inclusionSum: Double
    public var slope: Double

    public init(inclusionSum: Double = 0, slope: Double = 0) {
        self.inclusionSum = inclusionSum; self.slope = slope
    }

    public static let zero = ThresholdMoments()

    public static func + (a: ThresholdMoments, b: ThresholdMoments) -> ThresholdMoments {
        ThresholdMoments(inclusionSum: a.inclusionSum + b.inclusionSum, slope: a.slope + b.slope)
    }

    /// `[Σ(1−e^{−x}), Σ x e^{−x}]` per query, queries in order: one flat sum-reduce payload.
    public static func pack(_ moments: [ThresholdMoments]) -> [Double] {
        moments.flatMap { [$0.inclusionSum, $0.slope] }
    }

    /// Inverse of `pack`; throws on an odd count.
    public static func unpack(_ payload: [Double]) throws(ShardingError) -> [ThresholdMoments] {
        guard payload.count % 2 == 0 else { throw .payloadCountMismatch(expected: payload.count + 1, got: payload.count) }
        return (0..<(payload.count / 2)).map { ThresholdMoments(inclusionSum: payload[2 * $0], slope: payload[2 * $0 + 1]) }
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
/// `h'(τ) = Σ_i x_i e^{−x_i}` — `ThresholdInclusion`'s equation, and the same iteration as its
/// linear-domain solver: start at the hint (or the left bracket end `τ_lo = log(K / Σ_i e^{ℓ_i})`,
/// where `h ≤ 0` since `1 − e^{−x} ≤ x`), Newton on τ inside the bracket `[τ_lo, ∞)`, regula
/// falsi (else bisection, else `lo + 1` while unbounded above) when a step leaves it, until
/// `|Δτ| ≤ max(1e-14, 4 ulp(τ))`. The solution keeps the last *evaluated* τ (within that
/// tolerance of the next step) so that `sumPsi` belongs to it without an extra round.
///
/// Protocol: read `evaluationPoints` (τ per query, nil for a finished one), let every shard
/// compute `ShardedThresholdInclusion.localMoments` at those points, sum-reduce the 2Q
/// doubles, `step(_:)`; repeat until `isFinished`. Finished queries never change (their
/// moments are ignored, so shards may send zeros for them). Cost: O(Q) per step; ≈ 3–6 steps
/// with the Gumbel hint, at most `iterationCap`.
public struct ThresholdDriver: Sendable {
    struct QueryState: Sendable {
        var tau: Double
        var lo: Double
        var hi = Double.infinity
        var hLo: Double? = nil
        var hHi = Double.infinity
        var iterations = 0
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
        let kd = Double(k)
        for q in states.indices where states[q].solution == nil {
            Self.advance(&states[q], h: moments[q].inclusionSum - kd, slope: moments[q].slope, cap: iterationCap)
        }
    }

    /// The bracketed Newton update of `ThresholdInclusion.fastGradients`, one evaluation at a time.
    static func advance(_ st: inout QueryState, h: Double, slope: Double, cap: Int) {
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
        var next = st.tau - h / slope
        if !(next > st.lo && next < st.hi) {
            next = st.hi.isFinite ? 0.5 * (st.lo + st.hi) : st.lo + 1
            if let hLo = st.hLo, st.hi.isFinite {
                let falsi = st.lo - hLo * (st.hi - st.lo) / (st.hHi - hLo)
                if falsi > st.lo && falsi < st.hi { next = falsi }
            }
        }
        let tol = Swift.max(1e-14, 4 * st.tau.ulp)
        if Swift.abs(next - st.tau) <= tol || st.hi - st.lo <= tol { return finish(true) }
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
/// 2 doubles sum-reduced), then `accumulateShardGradient` (local; the chosen items' raw
/// scores come with the merged candidates). Only when every ψ underflows
/// (`needsPsiRescue`) one more max + sum reduction forms `ψ_j/Σψ` in the log domain.
public enum ShardedThresholdInclusion {
    /// Local moments of the shard's items at `τ = logT`, `m = shift` (the global max).
    /// O(n_s) with three exps per item.
    public static func localMoments(scores: [Double], shard: ItemShard, shift m: Double, logT tau: Double)
        throws(ShardingError) -> ThresholdMoments
    {
        guard scores.count == shard.count else { throw .scoreCountMismatch(expected: shard.count, got: scores.count) }
        var sum = 0.0, slope = 0.0
        for v in scores {
            let x = Foundation.exp(v - m + tau)
            sum += -Foundation.expm1(-x)
            if x < 746 { slope += x * Foundation.exp(-x) }  // else the term is 0 (and x may be +∞)
        }
        return ThresholdMoments(inclusionSum: sum, slope: slope)
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
}
