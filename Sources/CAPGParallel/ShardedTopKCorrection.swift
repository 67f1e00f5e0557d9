import CAPGCore
import Foundation

/// The top-K correction (`TopKCorrection`) on an item-sharded row:
/// `scale · λ_K(π_a) (e_a − π)`, `π = softmax(s)`, `λ_K(p) = K (1 − p)^{K−1}`.
///
/// Phases per query: `ShardedLogSumExp` excluding a small set E whose scores every shard
/// knows — the sampled candidates σ, which contain the chosen item a — (1 max-reduce +
/// 1 sum-reduce, one double each), then the local `accumulateShardGradient`.
///
/// Why exclude σ: `1 − π_a = Σ_{j≠a} e^{s_j} / Σ_j e^{s_j}` is then formed from the tail and
/// σ's other scores, exact to rounding even when a holds all but 1e-12 of the mass; the
/// full-row `TopKCorrection` forms `log1p(−π_a)` from a rounded π_a there (relative error
/// ≈ 1e-16 / (1 − π_a) in λ_K, e.g. 1e-7 at 1 − π_a = 1e-9), so the two agree to 1e-9 only
/// while `1 − π_a ≳ 1e-6`.
public enum ShardedTopKCorrection {
    /// Adds `scale · λ_K(π_a) (δ_aj − π_j)` for the shard's items j (`gradient` has n_s
    /// entries), `π_j = e^{s_j − log Z}`. `partition` is the reduced `ShardedLogSumExp` of
    /// the row excluding `excluded` (global indices, distinct), whose scores are
    /// `excludedScores`; the chosen item `a` must be one of them (`ShardingError.chosenItemNotExcluded`
    /// otherwise): its score is taken from there. Returns λ_K(π_a).
    /// O(n_s + |E|) with one exp per item.
    @discardableResult
    public static func accumulateShardGradient(
        chosen a: Int, partition: LogPartition, excluded: [Int], excludedScores: [Double], k: Int, scores: [Double],
        shard: ItemShard, scale: Double, into gradient: inout [Double]
    ) throws(ShardingError) -> Double {
        guard scores.count == shard.count else { throw .scoreCountMismatch(expected: shard.count, got: scores.count) }
        guard gradient.count == shard.count else { throw .scoreCountMismatch(expected: shard.count, got: gradient.count) }
        guard excluded.count == excludedScores.count else {
            throw .payloadCountMismatch(expected: excluded.count, got: excludedScores.count)
        }
        let logZ = partition.logTotal(excludedScores: excludedScores)
        guard let p = excluded.firstIndex(of: a) else { throw .chosenItemNotExcluded(a) }
        var others = excludedScores
        others.remove(at: p)
        let log1mPi = partition.logTotal(excludedScores: others) - logZ
        // λ_K = K (1 − π_a)^{K−1} from log(1 − π_a), as `TopKCorrection.lambda` does from log1p(−π_a).
        let lambda = Double(k) * Foundation.exp(Double(k - 1) * log1mPi)
        let c = scale * lambda
        // Entry a is c (1 − π_a) from log(1 − π_a) directly, not c − c π_a (which cancels).
        let own = shard.contains(a) ? a - shard.lo : -1
        for j in scores.indices {
            gradient[j] += j == own ? c * Foundation.exp(log1mPi) : -c * Foundation.exp(scores[j] - logZ)
        }
        return lambda
    }
}
