import CAPGCore

/// The forward phase's output: the ESR's scores of the local batch, and its queries as the
/// LSR sees them.
struct ForwardPass {
    /// The local batch and its B_local score rows (`batch.queries` are the data's own
    /// queries: the reward source and the learned LSR's features read those).
    var batch: ScoredBatch
    /// `batch.queries` seen through the learned LSR's current weights φ (the same queries
    /// with a fixed LSR): what the rollouts and the estimators draw and score against.
    let lateStageQueries: [any RankingQuery]

    var ids: [Int] { batch.ids }
    var count: Int { batch.count }
}
