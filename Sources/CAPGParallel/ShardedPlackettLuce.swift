import CAPGCore
import Foundation

/// V-PG's score function `∇_s log π(σ)` of a Plackett-Luce prefix σ (length K) on an
/// item-sharded row:
///
///   ∂ log π(σ)/∂s_j = 1[j∈σ] − e^{s_j} H_{min(K, pos(j))},   H_k = Σ_{m≤k} 1/Z_m,
///
/// with the normalizers `log Z_k` built from the tail `log Σ_{j∉σ} e^{s_j}` and σ's own
/// scores (`PlackettLuce.logNormalizers(prefixScores:logRest:)`), as the full-row code does.
/// Phases per (query, sample): `ShardedLogSumExp` excluding σ (1 max-reduce + 1 sum-reduce of
/// one double each), then the local `accumulateShardGradient`. Excluding σ from the tail
/// (rather than subtracting σ's mass from a total) keeps a peaked policy — σ holding all but
/// e^{−745} of the mass — exact.
public enum ShardedPlackettLuce {
    /// Adds `scale · ∂ log π(σ)/∂s_j` for the shard's items j (`gradient` has n_s entries) and
    /// returns `log π(σ)`. `prefixScores` are `s_{σ_1} … s_{σ_K}` (from the merged sample);
    /// `logRest = log Σ_{j∉σ} e^{s_j}` (`LogPartition.logRest` of the partition excluding σ).
    /// Concatenated over shards this equals `PlackettLuce.accumulateLogProbabilityGradient`
    /// on the full row up to rounding. O(n_s + K log K) with one exp per item.
    @discardableResult
    public static func accumulateShardGradient(
        prefix: [Int], prefixScores: [Double], logRest: Double, scores: [Double], shard: ItemShard, scale: Double,
        into gradient: inout [Double]
    ) throws(ShardingError) -> Double {
        guard scores.count == shard.count else { throw .scoreCountMismatch(expected: shard.count, got: scores.count) }
        guard gradient.count == shard.count else { throw .scoreCountMismatch(expected: shard.count, got: gradient.count) }
        precondition(prefix.count == prefixScores.count, "one score per prefix item")
        let k = prefix.count
        if k == 0 { return 0 }
        let z = PlackettLuce.logNormalizers(prefixScores: prefixScores, logRest: logRest)
        let r = PlackettLuce.cumulativeRatios(logNormalizers: z)
        var lp = 0.0
        for i in 0..<k { lp += prefixScores[i] - z[i] }
        let zK = z[k - 1], c = scale * r[k - 1]
        let mask = ExclusionMask(shard: shard, excluded: prefix)
        // Items outside σ: e^{s_j − log Z_K} ≤ 1 (s_j ≤ log Z_K), so no overflow.
        for j in scores.indices where !mask.contains(local: j) {
            gradient[j] -= c * Foundation.exp(scores[j] - zK)
        }
        // Item σ_i: s ≤ log Z_i, again no overflow.
        for i in 0..<k where shard.contains(prefix[i]) {
            gradient[prefix[i] - shard.lo] += scale * (1 - Foundation.exp(prefixScores[i] - z[i]) * r[i])
        }
        return lp
    }
}
