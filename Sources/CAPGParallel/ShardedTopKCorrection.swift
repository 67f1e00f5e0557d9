import CAPGCore
import Foundation

/// The top-K correction (`TopKCorrection`) on an item-sharded row:
/// `scale · λ_K(π_a) (e_a − π)`, `π = softmax(s)`, `λ_K(p) = K (1 − p)^{K−1}`.
///
/// Phases per query: `ShardedLogSumExp` (1 max-reduce + 1 sum-reduce, one double each; any
/// excluded set whose scores are known, e.g. σ, then `LogPartition.logTotal`), then the local
/// `accumulateShardGradient`. The chosen item's raw score comes with the merged candidates.
public enum ShardedTopKCorrection {
    /// Adds `scale · λ_K(π_a) (δ_aj − π_j)` for the shard's items j (`gradient` has n_s
    /// entries), with `π_j = e^{s_j − logZ}`, `logZ = log Σ_i e^{s_i}` over the full row.
    /// O(n_s) with one exp per item.
    public static func accumulateShardGradient(
        chosen a: Int, chosenScore: Double, logPartition logZ: Double, k: Int, scores: [Double], shard: ItemShard,
        scale: Double, into gradient: inout [Double]
    ) throws(ShardingError) {
        guard scores.count == shard.count else { throw .scoreCountMismatch(expected: shard.count, got: scores.count) }
        guard gradient.count == shard.count else { throw .scoreCountMismatch(expected: shard.count, got: gradient.count) }
        let c = scale * TopKCorrection.lambda(pi: Foundation.exp(chosenScore - logZ), k: k)
        for j in scores.indices { gradient[j] -= c * Foundation.exp(scores[j] - logZ) }
        if shard.contains(a) { gradient[a - shard.lo] += c }
    }
}
