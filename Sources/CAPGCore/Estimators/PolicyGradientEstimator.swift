import CVectorMath
import Foundation

/// Per-context summary of what an estimate saw.
public struct EstimateStats: Sendable {
    public var rewardSum: Double = 0
    public var samples: Int = 0
    /// Set by the Float-row `accumulate` when the gradient row it added had a NaN or ±∞.
    public var nonFinite = false
    /// The rollouts drawn (Float-row entry points only; a learned LSR's gradient needs them).
    public var rollouts: [Rollout] = []
    public init() {}
}

/// Reusable per-thread buffers for the Float-row `accumulate` (an N-double gradient row, the
/// widened score row where an estimator still needs one, and the threshold solve's
/// `ThresholdScratch`), so the step loop allocates nothing per query for the estimate
/// itself. Not thread-safe: one per thread.
///
/// Gumbel-top-K sampling, V-PG and threshold CA-PG read the Float score row in place
/// (bitwise as its widened copy, see `ScoreElement`), so on their path `row` is never
/// written: the workspace keeps only the row's range, measured by a Float pass when the
/// threshold solve asks for it. The other estimators and the with-replacement samplers
/// widen the row once into `row` as before.
public final class EstimatorWorkspace {
    /// The widened score row (what `widen` wrote).
    public internal(set) var row: [Double] = []
    @usableFromInline var gradient: [Double] = []
    /// `(max, min)` of the current row, set by `widen` or `measure`.
    @usableFromInline var rowRange: (top: Double, bottom: Double) = (-.infinity, .infinity)
    /// Whether `row` / `rowRange` hold the row the workspace was last used for (see
    /// `forget`): what `accumulate(rollouts:…rowWidened: true…)` may reuse.
    @usableFromInline var rowIsCurrent = false
    @usableFromInline var rangeIsCurrent = false
    let threshold = ThresholdScratch()

    public init() {}

    /// Sizes the gradient row (zeros; the estimate leaves it cleared). O(1), or O(N) when the
    /// row length changes.
    @usableFromInline func prepareGradient(_ n: Int) {
        if gradient.count != n { gradient = [Double](repeating: 0, count: n) }
    }

    /// `row ← Double(scores)` (sized to the row), and `rowRange` its (max, min) (which the
    /// threshold solve would otherwise scan for). O(N).
    public func widen(_ scores: UnsafeBufferPointer<Float>) {
        if row.count != scores.count { row = [Double](repeating: 0, count: scores.count) }
        var top = -Float.infinity, bottom = Float.infinity
        row.withUnsafeMutableBufferPointer { r in
            if let x = scores.baseAddress { capg_widen_minmax(x, r.baseAddress!, scores.count, &top, &bottom) }
        }
        rowRange = (Double(top), Double(bottom))
        rowIsCurrent = true
        rangeIsCurrent = true
    }

    /// `rowRange ← (max, min)` of `scores` without widening (`capg_minmax_f32`: `widen`'s
    /// loop without its stores, so bitwise the same range, NaNs never taken). O(N), 4 bytes
    /// read per item (≈ a tenth of `widen`'s cost at N = 10⁵, whose 800 KB store left L2).
    public func measure(_ scores: UnsafeBufferPointer<Float>) {
        var top = -Float.infinity, bottom = Float.infinity
        if let x = scores.baseAddress { capg_minmax_f32(x, scores.count, &top, &bottom) }
        rowRange = (Double(top), Double(bottom))
        rangeIsCurrent = true
    }

    /// Marks what the workspace holds of a row (`row`, `rowRange`) as stale: it is about to
    /// serve another row. O(1).
    @usableFromInline func forget() {
        rowIsCurrent = false
        rangeIsCurrent = false
    }

    /// The widened row of `scores`, widening it unless it is current. O(N) or O(1).
    func widenedRow(_ scores: UnsafeBufferPointer<Float>) -> [Double] {
        if !rowIsCurrent { widen(scores) }
        return row
    }

    /// The `(max, min)` of `scores`, measured unless it is current. O(N) or O(1).
    func range(_ scores: UnsafeBufferPointer<Float>) -> (top: Double, bottom: Double) {
        if !rangeIsCurrent { measure(scores) }
        return rowRange
    }
}

/// Errors in estimator configuration.
public enum EstimatorError: Error, CustomStringConvertible, Equatable {
    case looNeedsTwoSamples(Int)
    case nonPositiveK(Int)
    case nonPositiveSamples(Int)

    public var description: String {
        switch self {
        case .looNeedsTwoSamples(let m):
            return "baseline 'loo' needs at least 2 samples per context (got samples=\(m)); use --samples 2 or more, or --baseline mean"
        case .nonPositiveK(let k): return "k must be ≥ 1 (got \(k))"
        case .nonPositiveSamples(let m): return "samples per context must be ≥ 1 (got \(m))"
        }
    }
}

/// A policy-gradient estimate of `∇_s V` for one context from M rollouts, w.r.t. the
/// ESR score vector `s` (the trainer back-propagates it into the parameters):
///
/// - V-PG:  ĝ = (1/M) Σ_m (r_m − b_m) ∇_s log π(σ_m)
/// - CA-PG: ĝ = (1/M) Σ_m r_m ∇_s log P(a_m ∈ S_m)            (inclusion model chosen)
/// - top-K: ĝ = (1/M) Σ_m r_m λ_K(a_m) (e_{a_m} − softmax(s)),  λ_K(a) = K(1−π_a)^{K−1}
/// - distill: ĝ = (1/M) Σ_m (π₂(·|S_m) − softmax_{S_m}(s)) on S_m (not a policy gradient: the
///   on-policy distillation baseline, see `Distillation`)
/// - vpg-swr: ĝ = (1/M) Σ_m (r_m − b_m) Σ_k ∇ log π_{a_{m,k}} = (r_m − b_m)(c_m − Kπ), with
///   `a_{m,1..K}` i.i.d. from π = softmax(s) and `c_m` their draw counts, or (`swrCandidates
///   = .plackettLuce`, the authors' code) the PL prefix σ_m, c_m its indicator
/// - top1 (CA-PG-SwR): ĝ = (1/M) Σ_m r_m (e_{a_m} − π), candidates drawn as for vpg-swr
///
/// Cost per sample: O(N + K log K) for sampling plus O(N) for V-PG, top-K and threshold /
/// independent CA-PG, O(N·K·nodes) for exact CA-PG.
public struct PolicyGradientEstimator: Sendable {
    public var kind: EstimatorKind
    public var inclusion: InclusionModelKind
    public var baseline: BaselineKind
    public var samples: Int
    public var sampler: RolloutSampler
    /// Where `vpg-swr` and `top1` take their candidates from (ignored by the others).
    public var swrCandidates: SwRCandidates

    public init(kind: EstimatorKind, inclusion: InclusionModelKind = .threshold, baseline: BaselineKind = .none,
                samples: Int = 1, sampler: RolloutSampler, swrCandidates: SwRCandidates = .withReplacement) throws {
        guard samples >= 1 else { throw EstimatorError.nonPositiveSamples(samples) }
        guard sampler.k >= 1 else { throw EstimatorError.nonPositiveK(sampler.k) }
        if (kind == .vpg || kind == .vpgSwr) && baseline == .loo && samples < 2 { throw EstimatorError.looNeedsTwoSamples(samples) }
        self.kind = kind; self.inclusion = inclusion; self.baseline = baseline
        self.samples = samples; self.sampler = sampler; self.swrCandidates = swrCandidates
    }

    /// Whether this estimator's rollouts are K i.i.d. draws (`vpg-swr` / `top1` with
    /// `swrCandidates == .withReplacement`) instead of a Plackett-Luce prefix.
    public var drawsWithReplacement: Bool { kind.samplesWithReplacement && swrCandidates == .withReplacement }

    /// Whether the Float-row entry points run without a widened Double row: Gumbel-top-K
    /// sampling with V-PG or threshold CA-PG (the latter measures the row's range by a Float
    /// pass). The other configurations widen the row once per context.
    public var readsFloatRowInPlace: Bool {
        !drawsWithReplacement && Self.estimateReadsFloatRow(kind: kind, inclusion: inclusion)
    }

    /// Whether the estimate itself of `kind` with `inclusion` reads the score row in its own
    /// element type (V-PG and threshold CA-PG, the cases of `accumulate` that do not ask for
    /// the widened row); the rest widen a Float row once.
    public static func estimateReadsFloatRow(kind: EstimatorKind, inclusion: InclusionModelKind) -> Bool {
        kind == .vpg || (kind == .capg && inclusion == .threshold)
    }

    /// Adds `scale · ĝ` to `gradient` (length N) for the context `query` with scores `s`.
    /// `runningBaseline` is used by `BaselineKind.mean`. Equivalent to `rollouts(...)`
    /// followed by `accumulate(rollouts:...)`.
    @discardableResult
    public func accumulate<Q: RankingQuery>(
        scores s: [Double], query: Q, seed: UInt64, step: Int, queryID: Int,
        runningBaseline: Double = 0, scale: Double, into gradient: inout [Double]
    ) -> EstimateStats {
        let rollouts = rollouts(scores: s, query: query, seed: seed, step: step, queryID: queryID)
        return accumulate(rollouts: rollouts, scores: s, query: query, runningBaseline: runningBaseline, scale: scale,
                          into: &gradient)
    }

    /// The trainer's entry point: the scores of one context as a Float row (e.g. a row of
    /// the B×N score matrix), and `scale · ĝ` *added* to a Float gradient row, with no
    /// allocation (buffers from `workspace`). Same arithmetic as the `[Double]` form, bitwise:
    /// the Gumbel-top-K sampler, V-PG and threshold CA-PG read the Float row in place (each
    /// score widened exactly where it is read); the other estimators and samplers widen the
    /// row to Double once. The estimate is accumulated in Double and rounded to Float when
    /// added. A context whose rollouts all carry zero weight costs only the sampling (and
    /// the widening where one is needed). `stats.nonFinite` reports a NaN/∞ in the added row;
    /// `stats.rollouts` are the rollouts drawn (for a learned LSR's gradient). With
    /// `overwrite` the row is *set* to `0 + Float(scale · ĝ)` — bitwise what adding to a
    /// zeroed row gives — so a caller that writes each row once need not zero it first.
    /// Cost: the `[Double]` form's plus O(N) for the narrowing (and the widening, or for
    /// threshold CA-PG the Float range pass).
    @discardableResult
    public func accumulate<Q: RankingQuery>(
        scores: UnsafeBufferPointer<Float>, query: Q, seed: UInt64, step: Int, queryID: Int,
        runningBaseline: Double = 0, scale: Double, into gradient: UnsafeMutableBufferPointer<Float>,
        workspace: EstimatorWorkspace, overwrite: Bool = false
    ) -> EstimateStats {
        let drawn = rollouts(scores: scores, query: query, seed: seed, step: step, queryID: queryID, workspace: workspace)
        return accumulate(rollouts: drawn, scores: scores, query: query, runningBaseline: runningBaseline, scale: scale,
                          into: gradient, workspace: workspace, rowWidened: true, overwrite: overwrite)
    }

    /// The sampling half of the Float-row `accumulate`: draws the M rollouts, bitwise those
    /// of the `[Double]` form on the widened row. Gumbel-top-K reads the Float row in place;
    /// the with-replacement draws (`drawsWithReplacement`) widen it into `workspace` first
    /// (O(N)). A caller may then change their rewards (an external scorer) before
    /// `accumulate(rollouts:scores:…workspace:)`.
    public func rollouts<Q: RankingQuery>(
        scores: UnsafeBufferPointer<Float>, query: Q, seed: UInt64, step: Int, queryID: Int,
        workspace: EstimatorWorkspace
    ) -> [Rollout] {
        if drawsWithReplacement {
            workspace.widen(scores)
            return rollouts(scores: workspace.row, query: query, seed: seed, step: step, queryID: queryID)
        }
        workspace.forget()
        return rollouts(scores: scores, query: query, seed: seed, step: step, queryID: queryID)
    }

    /// The M rollouts of a Float score row without a workspace: Gumbel-top-K reads the row in
    /// place; the with-replacement draws take a widened copy (an N-double allocation). Bitwise
    /// the `[Double]` form's rollouts on the widened row. Cost: M · O(N + K log K).
    public func rollouts<Q: RankingQuery>(
        scores: UnsafeBufferPointer<Float>, query: Q, seed: UInt64, step: Int, queryID: Int
    ) -> [Rollout] {
        if drawsWithReplacement {
            return rollouts(scores: scores.map { Double($0) }, query: query, seed: seed, step: step, queryID: queryID)
        }
        return (0..<samples).map {
            sampler.sample(scores: scores, query: query, seed: seed, step: step, queryID: queryID, sample: $0)
        }
    }

    /// The estimator half of the Float-row `accumulate` for already drawn `rollouts`.
    /// `rowWidened` says `workspace` was last used for this row (by `rollouts(scores:…
    /// workspace:)` or `widen`), so what it kept of the row (the widened row, the range) is
    /// reused instead of recomputed; it is the caller's promise, not checked.
    /// `overwrite` sets the row instead of adding to it (zeros when no rollout carries weight).
    @discardableResult
    public func accumulate<Q: RankingQuery>(
        rollouts: [Rollout], scores: UnsafeBufferPointer<Float>, query: Q, runningBaseline: Double = 0, scale: Double,
        into gradient: UnsafeMutableBufferPointer<Float>, workspace: EstimatorWorkspace, rowWidened: Bool = false,
        overwrite: Bool = false
    ) -> EstimateStats {
        let n = scores.count
        precondition(gradient.count == n, "gradient row has \(gradient.count) entries, scores \(n)")
        let active: Bool
        switch kind {
        case .vpg, .vpgSwr:
            active = baseline != .none || rollouts.contains { $0.reward != 0 }
        case .capg, .topk, .top1:
            active = rollouts.contains { $0.reward != 0 }
        case .distill:
            active = true
        }
        if !active {
            if overwrite { gradient.update(repeating: 0) }
            var stats = EstimateStats()
            stats.rewardSum = rollouts.reduce(0) { $0 + $1.reward }
            stats.samples = rollouts.count
            stats.rollouts = rollouts
            return stats
        }
        if !rowWidened { workspace.forget() }
        workspace.prepareGradient(n)
        // `gradient += Float(row)` (or `= 0 + Float(row)`), the row cleared, and the NaN/±∞
        // check, in one vectorized pass (`RowNarrowing`; the former Swift loop's running
        // `check += v * 0` was a sequential FP chain, ≈ 1 µs per query at N = 1000) — or, for
        // V-PG's single weighted rollout, written straight into the Float row (`narrowed`).
        let target = n > 0 ? RowNarrowing(row: gradient.baseAddress!, overwrite: overwrite) : nil
        var narrowed: Bool? = nil
        let lsr = sampler.lsr
        var stats = accumulate(rollouts: rollouts, scores: scores, widened: { workspace.widenedRow(scores) },
                               range: { workspace.range(scores) },
                               lateStage: { lsr.probabilities(candidates: $0, query: query) },
                               runningBaseline: runningBaseline, scale: scale, into: &workspace.gradient,
                               workspace: workspace, narrowingInto: target, narrowed: &narrowed)
        var nonFinite = narrowed ?? false
        if narrowed == nil, let target {
            nonFinite = workspace.gradient.withUnsafeMutableBufferPointer { target.narrow($0) }
        }
        stats.nonFinite = nonFinite
        stats.rollouts = rollouts
        return stats
    }

    /// The M rollouts of one context (the sampling half of `accumulate`); sample m uses the
    /// streams keyed by `(seed, step, queryID, m)`. Cost: M · O(N + K log K).
    public func rollouts<Q: RankingQuery>(
        scores s: [Double], query: Q, seed: UInt64, step: Int, queryID: Int
    ) -> [Rollout] {
        (0..<samples).map {
            drawsWithReplacement
                ? sampler.sampleWithReplacement(scores: s, query: query, seed: seed, step: step, queryID: queryID, sample: $0)
                : sampler.sample(scores: s, query: query, seed: seed, step: step, queryID: queryID, sample: $0)
        }
    }

    /// Adds `scale · ĝ` for already drawn `rollouts` of the context with scores `s` (the
    /// estimator half of `accumulate`; `query` is used by `distill` only). O(N) per rollout
    /// with a nonzero weight.
    @discardableResult
    public func accumulate<Q: RankingQuery>(
        rollouts: [Rollout], scores s: [Double], query: Q, runningBaseline: Double = 0, scale: Double,
        into gradient: inout [Double]
    ) -> EstimateStats {
        var narrowed: Bool? = nil
        return s.withUnsafeBufferPointer { sb in
            accumulate(rollouts: rollouts, scores: sb, widened: { s }, range: { nil },
                       lateStage: { sampler.lsr.probabilities(candidates: $0, query: query) },
                       runningBaseline: runningBaseline, scale: scale, into: &gradient, workspace: nil, narrowed: &narrowed)
        }
    }

    /// The estimate for either row type (`ScoreElement`): V-PG and threshold CA-PG read `s`
    /// itself (a Float row bitwise as its widened copy); the other estimators take the Double
    /// row from `widened` (the `[Double]` caller's own array, or the Float row widened once
    /// into the workspace). `range` is the row's `(max, min)` when the caller has it or
    /// measures it cheaply (nil: the threshold solve scans `s`). With the Float-row caller's
    /// `workspace` the threshold CA-PG case runs allocation-free
    /// (`ThresholdInclusion.accumulateGradients`), bitwise as without it.
    ///
    /// With `narrowingInto`, a case that can round its finished row into that Float row in
    /// its own last pass (when the row is overwritten: V-PG with one weighted rollout, and
    /// the threshold CA-PG solve, whose decay pass writes the Float row) does so,
    /// leaves `gradient` cleared and sets `narrowed` to
    /// whether a narrowed value was NaN or ±∞; `narrowed` stays nil when the caller must
    /// narrow `gradient` itself.
    ///
    /// Generic over the row type only (the query enters through `lateStage`, the LSR's
    /// distribution over a candidate list, which only `distill` uses), so the entry points,
    /// which name the row type, run a specialization of it and of the passes it calls.
    func accumulate<S: ScoreElement>(
        rollouts: [Rollout], scores s: UnsafeBufferPointer<S>, widened: () -> [Double],
        range rowRange: () -> (top: Double, bottom: Double)?, lateStage: ([Int]) -> [Double], runningBaseline: Double,
        scale: Double,
        into gradient: inout [Double], workspace: EstimatorWorkspace?, narrowingInto target: RowNarrowing? = nil,
        narrowed: inout Bool?
    ) -> EstimateStats {
        var stats = EstimateStats()
        let total = rollouts.reduce(0) { $0 + $1.reward }
        stats.rewardSum = total
        stats.samples = rollouts.count
        let m = rollouts.count
        let perSample = scale / Double(m)
        func advantage(_ r: Rollout) -> Double {
            switch baseline {
            case .none: return r.reward
            case .mean: return r.reward - runningBaseline
            case .loo: return r.reward - (m > 1 ? (total - r.reward) / Double(m - 1) : 0)
            }
        }
        switch kind {
        case .vpg:
            // With one weighted rollout, its row can go straight into the caller's Float row
            // (the Double row is still zero then; see PlackettLuce).
            let direct = rollouts.lazy.filter { advantage($0) != 0 }.count == 1 ? target : nil
            // The rest weights live in an N-double scratch (the per-thread workspace's threshold
            // weights, or one for this call): every entry is written before it is read, so no
            // zero-fill and no allocation per rollout.
            let scratch = workspace?.threshold ?? ThresholdScratch()
            scratch.reserve(s.count)
            for r in rollouts {
                let adv = advantage(r)
                if adv == 0 { continue }
                PlackettLuce.accumulateLogProbabilityGradient(
                    scores: s, prefix: r.candidates, scale: perSample * adv,
                    restWeights: UnsafeMutableBufferPointer(start: scratch.weights, count: s.count), into: &gradient,
                    narrowingInto: direct, narrowed: &narrowed)
            }
        case .vpgSwr:
            let s = widened()
            var pi: [Double]? = nil
            for r in rollouts {
                let adv = advantage(r)
                if adv == 0 { continue }
                if pi == nil { pi = StableMath.softmax(s) }
                let counts = r.multiplicities ?? [Int](repeating: 1, count: r.candidates.count)
                let draws = zip(r.candidates, counts).map { (item: $0, weight: Double($1)) }
                SoftmaxWithReplacement.accumulateLogProbabilityGradient(
                    of: draws, softmax: pi!, scale: perSample * adv, into: &gradient)
            }
        case .top1:
            let s = widened()
            var pi: [Double]? = nil
            for r in rollouts where r.reward != 0 {
                if pi == nil { pi = StableMath.softmax(s) }
                SoftmaxWithReplacement.accumulateLogProbabilityGradient(
                    of: [(r.chosen, 1)], softmax: pi!, scale: perSample * r.reward, into: &gradient)
            }
        case .capg where inclusion == .threshold:
            // One threshold solve for all M rollouts (it depends on the scores only), started
            // from the first rollout's K-th arrival time.
            let range = rowRange()
            let top = range?.top ?? S.maximum(s)
            var hint: Double? = nil
            if let vK = rollouts.first(where: { $0.kthPerturbedScore != nil })?.kthPerturbedScore {
                hint = Foundation.exp(-(vK - top))
            }
            // Without a workspace (the `[Double]` API), a scratch for this call: the same
            // solve, bitwise, with its buffers allocated once here.
            let scratch = workspace?.threshold ?? ThresholdScratch()
            withUnsafeTemporaryAllocation(of: (item: Int, scale: Double).self, capacity: rollouts.count) { chosen in
                var count = 0
                for r in rollouts where r.reward != 0 {
                    chosen[count] = (r.chosen, perSample * r.reward)
                    count += 1
                }
                if count == 0 { return }
                // With a narrowing target the Double row is zero here (the workspace's rows are
                // left cleared), so the solve may narrow its finished row itself.
                narrowed = gradient.withUnsafeMutableBufferPointer { gb in
                    ThresholdInclusion().gradients(
                        of: UnsafeBufferPointer(rebasing: chosen[0..<count]), scores: s, scoreRange: range, k: sampler.k,
                        thresholdHint: hint, scratch: scratch, into: gb, narrowingInto: target)
                }
            }
        case .capg:
            let s = widened()
            let model = inclusion.makeModel()
            for r in rollouts where r.reward != 0 {
                _ = model.accumulateLogProbabilityGradient(
                    of: r.chosen, scores: s, k: sampler.k, scale: perSample * r.reward, into: &gradient)
            }
        case .distill:
            let s = widened()
            for r in rollouts {
                let target = lateStage(r.candidates)
                Distillation.accumulate(scores: s, candidates: r.candidates, target: target,
                                        scale: perSample, into: &gradient)
            }
        case .topk:
            let s = widened()
            var pi: [Double]? = nil
            for r in rollouts where r.reward != 0 {
                if pi == nil { pi = StableMath.softmax(s) }
                TopKCorrection.accumulate(of: r.chosen, softmax: pi!, k: sampler.k,
                                          scale: perSample * r.reward, into: &gradient)
            }
        }
        return stats
    }
}

/// The top-K correction factor and gradient (Chen et al., WSDM 2019, on-policy form).
public enum TopKCorrection {
    /// `λ_K(a) = K (1 − π_a)^{K−1}`.
    public static func lambda(pi: Double, k: Int) -> Double {
        Double(k) * Foundation.exp(Double(k - 1) * Foundation.log1p(-pi))
    }

    /// Adds `scale · λ_K(a) · ∇_s log π_a = scale · λ_K(a) (e_a − π)` to `gradient`; O(N).
    public static func accumulate(of a: Int, softmax pi: [Double], k: Int, scale: Double, into gradient: inout [Double]) {
        SoftmaxWithReplacement.accumulateLogProbabilityGradient(
            of: [(a, lambda(pi: pi[a], k: k))], softmax: pi, scale: scale, into: &gradient)
    }
}
