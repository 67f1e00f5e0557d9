import CAPGCore
import Foundation

/// One shard's part of one query's threshold solve in the linear domain: the item-sharded
/// twin of `ThresholdInclusion.fastGradients`, with its kernels (`VectorExp`,
/// `ThresholdHotCold`). Built by `ShardedThresholdInclusion.prepareRow` once the global max m
/// is reduced:
///
/// - `w_i = e^{s_i − m}` for the shard's items (one vectorized exp per item) and their sum,
///   this shard's term of the sum-reduce `Σ_i e^{s_i − m}` that brackets the root;
/// - the hot/cold split for `t ≤ T = 1.5 t₀`, `t₀ = e^{max(τ_hint, log K − log Σ_shard w)}`:
///   an upper bound of the driver's start `e^{max(τ_hint, log K − log Σ_all w)}`, since the
///   global sum is at least the local one. The hot items' weights are kept (a few times K).
///
/// Then each Newton round (`localMoments(row:…)`) costs O(#hot) exps plus O(1) for the cold
/// moments instead of two exps per local item, and a round at `t > T` re-splits (one more
/// vectorized exp pass over the shard); the gradient (`accumulateShardGradient(…row:…)`)
/// costs one vectorized exp pass and a polynomial per cold item.
///
/// Where the linear domain does not hold — a local weight would underflow
/// (`s_i − m < −700`), or the split would have to hold beyond `t = e^{40}` (its terms
/// `t^m S_m` go up to m = 8: at `t ≈ e^{89}` they overflow, and before that `S_m` of tiny
/// weights underflows; this happens only when a few items lie hundreds of nats above the
/// rest) — the exact log-domain kernels (`localMoments(scores:…)`,
/// `accumulateShardGradient(…shift:…)`) run instead. The choice is per shard and per round:
/// moments are additive, so the shards need not agree on it, and either way the moments
/// agree to rounding.
public struct ThresholdShardRow: Sendable {
    /// The global max m of the query's row.
    public let shift: Double
    /// `Σ_{i ∈ shard} e^{s_i − m}`, this shard's term of the bracket's sum-reduce.
    public let localSumWeights: Double
    /// The current split (nil: the exact path).
    var hotCold: ThresholdHotCold?
    /// Local indices and weights of `hotCold`'s hot items, in increasing index order.
    var hotItems: [Int32] = []
    var hotWeights: [Double] = []

    /// Whether the rounds use the linear-domain split (false: the exact kernels).
    public var isLinear: Bool { hotCold != nil }

    /// Re-splits for `t ≤ bound` from the weights in `w` (n items), keeping the hot items.
    mutating func split(bound: Double, weights w: UnsafePointer<Double>, count n: Int,
                        hot: UnsafeMutablePointer<Int32>) {
        adopt(ThresholdHotCold(weights: w, count: n, bound: bound, hot: hot), weights: w, hot: hot)
    }

    /// Takes `split` (made from the weights `w` into `hot`) as the current split.
    mutating func adopt(_ split: ThresholdHotCold, weights w: UnsafePointer<Double>, hot: UnsafeMutablePointer<Int32>) {
        hotItems = Array(UnsafeBufferPointer(start: hot, count: split.hotCount))
        hotWeights = hotItems.map { w[Int($0)] }
        hotCold = split
    }
}

/// Scratch of `ThresholdShardRow`'s passes: the n_s weights of the query at hand and n_s
/// hot indices, shared by every query of a chunk (sized on first use; O(n_s) memory,
/// 12 bytes per item). One per caller; not for concurrent use.
public struct ThresholdShardWorkspace: Sendable {
    var weights: [Double] = []
    var hot: [Int32] = []

    public init() {}

    /// `weights ← e^{s − m}` for the shard's row `scores` (sized to it); returns their sum.
    /// O(n_s), one vectorized exp per item.
    mutating func loadWeights(_ scores: [Double], shift m: Double) -> Double {
        if weights.count != scores.count {
            weights = [Double](repeating: 0, count: scores.count)
            hot = [Int32](repeating: 0, count: scores.count)
        }
        return scores.withUnsafeBufferPointer { s in
            weights.withUnsafeMutableBufferPointer { w in VectorExp.exp(s, shift: -m, into: w) }
        }
    }

    /// `loadWeights` fused with the split of the loaded weights for `t ≤ bound`
    /// (`ThresholdHotCold.withExps`: the same weights and sum, bitwise, in one pass); the
    /// split is left in `hot`. O(n_s), one vectorized exp per item.
    mutating func loadWeightsAndSplit(_ scores: [Double], shift m: Double, bound: Double)
        -> (split: ThresholdHotCold, sumWeights: Double)
    {
        let n = scores.count
        if weights.count != n {
            weights = [Double](repeating: 0, count: n)
            hot = [Int32](repeating: 0, count: n)
        }
        return scores.withUnsafeBufferPointer { s in
            weights.withUnsafeMutableBufferPointer { w in
                hot.withUnsafeMutableBufferPointer { h in
                    ThresholdHotCold.withExps(s.baseAddress!, shift: -m, count: n, bound: bound,
                                              weights: w.baseAddress!, hot: h.baseAddress!)
                }
            }
        }
    }

    /// Makes the split left in `hot` by `loadWeightsAndSplit` the row's.
    mutating func adopt(_ split: ThresholdHotCold, into row: inout ThresholdShardRow) {
        weights.withUnsafeBufferPointer { w in
            hot.withUnsafeMutableBufferPointer { h in row.adopt(split, weights: w.baseAddress!, hot: h.baseAddress!) }
        }
    }

    /// `row.split(bound:…)` on the loaded weights.
    mutating func split(_ row: inout ThresholdShardRow, bound: Double) {
        let n = weights.count
        weights.withUnsafeBufferPointer { w in
            hot.withUnsafeMutableBufferPointer { h in
                row.split(bound: bound, weights: w.baseAddress!, count: n, hot: h.baseAddress!)
            }
        }
    }
}

extension ShardedThresholdInclusion {
    /// Below this `s_i − m` a weight `e^{s_i − m}` counts as underflowing (as in
    /// `ThresholdInclusion.fastGradients`; the vectorized exp flushes below −708.39).
    static let linearFloor = -700.0
    /// The largest split bound of the linear path, `e^{40}`: `t^8 ≤ e^{320}` stays finite,
    /// and a cold weight whose 8th power underflows (`w < 1e-38`) has `x = w t < 1e-20`.
    static let linearBoundCap = Foundation.exp(40.0)

    /// The shard's `ThresholdShardRow` of one query: `shift` the reduced global max,
    /// `logHint` the driver's start hint (as passed to `ThresholdDriver`). Its
    /// `localSumWeights` replaces `ShardedLogSumExp.localSum` (same sum, summed in the
    /// vectorized kernel's order). O(n_s) with one vectorized exp per item (the exact path:
    /// one libm exp per item).
    public static func prepareRow(scores: [Double], shard: ItemShard, shift m: Double, k: Int, logHint: Double?,
                                  workspace: inout ThresholdShardWorkspace) throws(ShardingError) -> ThresholdShardRow {
        guard scores.count == shard.count else { throw .scoreCountMismatch(expected: shard.count, got: scores.count) }
        var bottom = Double.infinity
        for v in scores { bottom = v < bottom ? v : bottom }
        guard !scores.isEmpty, m.isFinite, bottom - m >= linearFloor else {
            return ThresholdShardRow(shift: m, localSumWeights: try ShardedLogSumExp.localSum(scores: scores, shard: shard, shift: m))
        }
        // With a hint, the exps and the split for its bound are one pass; the start is
        // max(τ_hint, log K − log Σ_shard w), so the split is redone only when the latter wins.
        if let h = logHint, h.isFinite, case let hintBound = ThresholdHotCold.splitFactor * Foundation.exp(h),
           hintBound > 0, hintBound <= linearBoundCap
        {
            let fused = workspace.loadWeightsAndSplit(scores, shift: m, bound: hintBound)
            var row = ThresholdShardRow(shift: m, localSumWeights: fused.sumWeights)
            let logLow = Foundation.log(Double(k)) - Foundation.log(fused.sumWeights)
            if h > logLow {
                workspace.adopt(fused.split, into: &row)
            } else {
                let bound = ThresholdHotCold.splitFactor * Foundation.exp(logLow)
                if bound > 0 && bound <= linearBoundCap { workspace.split(&row, bound: bound) }
            }
            return row
        }
        let sum = workspace.loadWeights(scores, shift: m)
        var row = ThresholdShardRow(shift: m, localSumWeights: sum)
        var logStart = Foundation.log(Double(k)) - Foundation.log(sum)
        if let h = logHint, h.isFinite, h > logStart { logStart = h }
        let bound = ThresholdHotCold.splitFactor * Foundation.exp(logStart)
        if bound > 0 && bound <= linearBoundCap { workspace.split(&row, bound: bound) }
        return row
    }

    /// `localMoments(scores:shard:shift:logT:)` from the row's split: O(#hot) exps plus O(1)
    /// (a point beyond the split's bound re-splits first: one vectorized exp pass). Equal to
    /// the exact moments to rounding; the exact kernel where the row is not linear.
    public static func localMoments(row: inout ThresholdShardRow, scores: [Double], shard: ItemShard, logT tau: Double,
                                    workspace: inout ThresholdShardWorkspace) throws(ShardingError) -> ThresholdMoments {
        guard scores.count == shard.count else { throw .scoreCountMismatch(expected: shard.count, got: scores.count) }
        let t = Foundation.exp(tau)
        guard let current = row.hotCold, t > 0, ThresholdHotCold.splitFactor * t <= linearBoundCap else {
            return try localMoments(scores: scores, shard: shard, shift: row.shift, logT: tau)
        }
        if t > current.bound {
            _ = workspace.loadWeights(scores, shift: row.shift)
            workspace.split(&row, bound: ThresholdHotCold.splitFactor * t)
        }
        // Hot items exactly, split at x = ln 2 as in the exact kernel; every cold item has
        // x ≤ 0.05 < ln 2, so it is "small" and enters A and ψ_small through the moments.
        var out = ThresholdMoments.zero
        for w in row.hotWeights {
            let x = w * t
            if x > ln2 {
                out.saturated += 1
                let e = Foundation.exp(-x)
                out.saturatedDeficit += e
                if x < 746 { out.saturatedSlope += x * e }
            } else {
                out.smallMass -= Foundation.expm1(-x)
                out.smallSlope += x * Foundation.exp(-x)
            }
        }
        let cold = row.hotCold!.coldSums(at: t)
        out.smallMass += cold.mass
        out.smallSlope += cold.slope
        return out
    }

    /// `localMoments(row:…)` for a chunk of Q queries as one sum-reduce payload of 5Q doubles
    /// (`ThresholdMoments.pack` order); `points` are the driver's `evaluationPoints` (zeros
    /// for finished queries). O(Σ #hot) exps per round.
    public static func localMomentsPayload(rows: inout [ThresholdShardRow], scores: [[Double]], shard: ItemShard,
                                           points: [Double?], workspace: inout ThresholdShardWorkspace)
        throws(ShardingError) -> [Double]
    {
        guard scores.count == rows.count else { throw .payloadCountMismatch(expected: rows.count, got: scores.count) }
        guard points.count == rows.count else { throw .payloadCountMismatch(expected: rows.count, got: points.count) }
        return try ThresholdMoments.payload(points: points) { q, tau throws(ShardingError) in
            try localMoments(row: &rows[q], scores: scores[q], shard: shard, logT: tau, workspace: &workspace)
        }
    }

    /// `accumulateShardGradient(chosen:scores:shard:shift:solution:psi:into:)` from the row:
    /// the `−C ψ_j/Σψ` pass as `ThresholdHotCold.subtractDecay` on the reloaded weights (one
    /// vectorized exp per item, a polynomial per cold item, an exp per hot one) instead of two
    /// libm exps per item. The exact kernel where the row is not linear, for a ψ rescue
    /// (`psi` non-nil) or a trivial solution. Returns `log P(a_c ∈ S)` per chosen item.
    @discardableResult
    public static func accumulateShardGradient(
        chosen: [(item: Int, score: Double, scale: Double)], scores: [Double], row: ThresholdShardRow, shard: ItemShard,
        solution: ThresholdSolution, psi: PsiNormalization? = nil, workspace: inout ThresholdShardWorkspace,
        into gradient: inout [Double]
    ) throws(ShardingError) -> [Double] {
        let t = Foundation.exp(solution.logT)
        guard row.isLinear, psi == nil, !solution.isTrivial, t > 0, ThresholdHotCold.splitFactor * t <= linearBoundCap else {
            return try accumulateShardGradient(chosen: chosen, scores: scores, shard: shard, shift: row.shift,
                                               solution: solution, psi: psi, into: &gradient)
        }
        guard scores.count == shard.count else { throw .scoreCountMismatch(expected: shard.count, got: scores.count) }
        guard gradient.count == shard.count else { throw .scoreCountMismatch(expected: shard.count, got: gradient.count) }
        let norm = PsiNormalization(solution)
        let (coefficient, logP) = chosenTerms(chosen, shard: shard, shift: row.shift, logT: solution.logT, norm: norm,
                                              into: &gradient)
        if coefficient != 0 {
            // −C ψ_j/Σψ = −(C t/Σψ) w_j e^{−w_j t}.
            var current = row
            _ = workspace.loadWeights(scores, shift: row.shift)
            if t > current.hotCold!.bound { workspace.split(&current, bound: ThresholdHotCold.splitFactor * t) }
            let split = current.hotCold!
            workspace.weights.withUnsafeBufferPointer { w in
                current.hotItems.withUnsafeBufferPointer { hot in
                    gradient.withUnsafeMutableBufferPointer { g in
                        split.subtractDecay(scale: coefficient * t / norm.sum, t: t, weights: w.baseAddress!, count: w.count,
                                            hot: hot, from: g.baseAddress!)
                    }
                }
            }
        }
        return logP
    }
}
