import CAPGCore

/// Gumbel-top-K over an item-sharded row: each shard selects the best `min(K, n_s)` of its
/// own perturbed scores, the caller gathers the S lists, and `merge` keeps the global best K.
///
/// Why it is exact: item i's noise is `g_i = −log(−log u_i)` with `u_i` from words `2i, 2i+1`
/// of the (counter-based) stream, so a shard reaches its items' noise by `advance(2·lo)`
/// without drawing the others'; and every member of the global top-K (a total order: key,
/// then smaller index) is in its own shard's top-K, so the top-K of the union is the global
/// one. The shard scan *is* `GumbelTopK`'s (same rejection table and block test, via
/// `sampleWithPerturbedKeys` on the shard's slice), so keys are bitwise those of the
/// full-row sampler.
///
/// Communication per query: an all-gather of `3K` doubles per shard (`ShardCandidate.pack`;
/// or a sum-reduce of a zeroed `S × 3K` buffer, each shard writing its own slot).
public enum ShardedGumbelTopK {
    /// Local phase. `scores` are the shard's `s_lo … s_{hi−1}`; `stream` is positioned as
    /// the stream the full-row `GumbelTopK.sampleWithKey` would receive, and is left advanced
    /// the same way (by 2N words when `min(K, N) > 0`, else untouched), so the next draws of
    /// the caller agree across shards. Returns up to `min(K, n_s)` candidates with global
    /// indices, best first. Cost: `GumbelTopK`'s on n_s items plus one Philox block.
    public static func localTopK(scores: [Double], shard: ItemShard, k: Int, stream: inout RandomStream)
        throws(ShardingError) -> [ShardCandidate]
    {
        guard scores.count == shard.count else { throw .scoreCountMismatch(expected: shard.count, got: scores.count) }
        precondition(k >= 0, "k must be ≥ 0 (got \(k))")
        if Swift.min(k, shard.itemCount) == 0 { return [] }
        var local = stream
        local.advance(words: 2 * shard.lo)
        let lo = shard.lo
        let picked = GumbelTopK.sampleWithPerturbedKeys(scores: scores, k: k, stream: &local)
        stream.advance(words: 2 * shard.itemCount)
        return picked.map { ShardCandidate(item: lo + $0.item, key: $0.key, score: scores[$0.item]) }
    }

    /// Merge phase: the best `min(K, total)` of the shards' lists, in decreasing key order
    /// with ties toward the smaller item (the full sampler's order). With every shard's list
    /// from `localTopK` this is bitwise `GumbelTopK.sampleWithKey` on the full row (items and
    /// `kthKey`). O(S·K log(S·K)).
    public static func merge(_ lists: [[ShardCandidate]], k: Int) -> CandidateSample {
        let all = lists.joined().sorted { $0.ranksBefore($1) }
        return CandidateSample(candidates: Array(all.prefix(Swift.max(0, k))))
    }
}
