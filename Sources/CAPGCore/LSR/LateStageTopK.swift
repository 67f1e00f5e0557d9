/// The K items with the highest LSR scores of each query, largest first (ties to the smaller
/// index): exactly `GumbelTopK.topK` of `lateStageScore(of:)` over the whole universe. Its
/// first entry is the LSR's favourite (`LateStageRanker.favourite`), the whole list is the
/// oracle ESR's candidate set (`PolicyEvaluator.oracle`), so the trainer's start-up computes
/// both from one call.
///
/// Synthetic queries over a fully stored environment take the bound-based batched path
/// (`SyntheticEnvironment.lateStageTopK`: one GEMM pass, exact scores only for items that
/// can reach the top-K); any other query scores all N items (O(N) `lateStageScore` calls).
public enum LateStageTopK {
    public static func of(queries: [any RankingQuery], k: Int) -> [[Int]] {
        if let first = queries.first as? SyntheticQuery {
            let env = first.environment
            let synthetic = queries.compactMap { $0 as? SyntheticQuery }
            if synthetic.count == queries.count, synthetic.allSatisfy({ $0.environment.config == env.config }),
               let tops = env.lateStageTopK(queries: synthetic, k: k)
            {
                return tops
            }
        }
        return queries.map { plain(query: $0, k: k) }
    }

    /// The plain way: every item's exact score, then the top-K. O(N) scores + O(N log K).
    public static func plain<Q: RankingQuery>(query: Q, k: Int) -> [Int] {
        GumbelTopK.topK((0..<query.itemCount).map { query.lateStageScore(of: $0) }, k: k)
    }
}
