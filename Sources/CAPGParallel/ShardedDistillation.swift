import CAPGCore

/// On-policy distillation (`Distillation`) on an item-sharded row: the gradient
/// `scale · (π₂(a|S) − softmax_S(s)_a)` is nonzero only on the candidate set S, and needs
/// only the candidates' raw scores (from the merged sample), so there is no reduction: each
/// shard computes the K terms (`Distillation.candidateTerms`) and adds those of its own items.
public enum ShardedDistillation {
    /// Adds the shard's entries of `scale · ∂J/∂s` (`gradient` has n_s entries) and returns J
    /// (the same on every shard). O(K).
    @discardableResult
    public static func accumulateShardGradient(
        candidates: [Int], candidateScores: [Double], target: [Double], shard: ItemShard, scale: Double,
        into gradient: inout [Double]
    ) throws(ShardingError) -> Double {
        guard gradient.count == shard.count else { throw .scoreCountMismatch(expected: shard.count, got: gradient.count) }
        precondition(candidates.count == candidateScores.count, "one score per candidate")
        guard !candidates.isEmpty else { return 0 }
        let (terms, objective) = Distillation.candidateTerms(candidateScores: candidateScores, target: target, scale: scale)
        for (i, a) in candidates.enumerated() where shard.contains(a) { gradient[a - shard.lo] += terms[i] }
        return objective
    }
}
