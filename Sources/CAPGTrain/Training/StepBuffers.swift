import CAPGCore

/// The memory one training step works in. The trainer owns one and lends it to the phases
/// (`inout`), and it is reused across steps so a step neither allocates nor page-faults its
/// large arrays.
///
/// - `scoreGradient`: ∂J/∂s of the local batch, laid out like the batch's scores (Σ_q N_q
///   floats; empty on a step that does not train the ESR). Not zeroed between steps: the
///   estimator *writes* every local query's row once per step (`overwrite: true`, zeros
///   for a query without weight), which saves a B×N memset pass (≈ 9 ms per step at the
///   reference size);
/// - `gradient`: the flat ∂J/∂θ (P floats, allreduced in place; empty likewise);
/// - `stats`, `rollouts`: one slot per local query, each written only by the thread that
///   handles the query;
/// - `recycledScores`: the previous step's score array, handed back to the task's forward
///   pass (`TrainingTask.forward(…recycling:)`).
///
/// The per-query phases run on worker threads and need raw rows of these arrays: `withRows`
/// pins them once per phase and hands out a `Rows` view, the one place the step nests
/// `withUnsafe…` calls.
struct StepBuffers {
    var scoreGradient: [Float] = []
    var gradient: [Float] = []
    var stats: [EstimateStats] = []
    var rollouts: [[Rollout]] = []
    var recycledScores: [Float] = []

    /// Readies the per-query buffers for a step over `batch`: `scoreGradient` sized to the
    /// batch's score layout when `trainsESR` (else empty; its rows are left for the estimator
    /// to write), one empty stats and rollout slot per query. O(B), or O(Σ_q N_q) when the
    /// size changes.
    mutating func prepare(for batch: ScoredBatch, trainsESR: Bool) {
        let count = trainsESR ? batch.scores.count : 0
        if scoreGradient.count != count { scoreGradient = [Float](repeating: 0, count: count) }
        stats.removeAll(keepingCapacity: true)
        stats.append(contentsOf: repeatElement(EstimateStats(), count: batch.count))
        rollouts.removeAll(keepingCapacity: true)
        rollouts.append(contentsOf: repeatElement([], count: batch.count))
    }

    /// Readies `gradient`: P zeros when `trainsESR` (else empty). O(P).
    mutating func prepareGradient(parameterCount: Int, trainsESR: Bool) {
        Self.zero(&gradient, count: trainsESR ? parameterCount : 0)
    }

    /// Gives the score array back to the buffers for the next step's forward pass (leaving
    /// `batch.scores` with the previously recycled array, normally empty). O(1).
    mutating func recycleScores(of batch: inout ScoredBatch) {
        swap(&recycledScores, &batch.scores)
    }

    /// Runs `body` with raw views of `batch`'s scores and this step's per-query buffers.
    /// The views are valid only inside `body`. O(1).
    mutating func withRows<R>(of batch: ScoredBatch, _ body: (Rows) throws -> R) rethrows -> R {
        try batch.scores.withUnsafeBufferPointer { scores in
            try scoreGradient.withUnsafeMutableBufferPointer { scoreGradient in
                try stats.withUnsafeMutableBufferPointer { stats in
                    try rollouts.withUnsafeMutableBufferPointer { rollouts in
                        try body(Rows(scores: scores, scoreGradient: scoreGradient, stats: stats, rollouts: rollouts,
                                      offsets: batch.offsets))
                    }
                }
            }
        }
    }

    /// Raw views of one step's buffers for the per-query loop. Query qi's slots (its score
    /// row, its ∂J/∂s row, `stats[qi]`, `rollouts[qi]`) are disjoint from every other
    /// query's, so worker threads that each touch only their own queries' slots never share
    /// memory (hence `@unchecked Sendable`).
    struct Rows: @unchecked Sendable {
        let scores: UnsafeBufferPointer<Float>
        let scoreGradient: UnsafeMutableBufferPointer<Float>
        let stats: UnsafeMutableBufferPointer<EstimateStats>
        let rollouts: UnsafeMutableBufferPointer<[Rollout]>
        /// Row qi spans `offsets[qi]..<offsets[qi + 1]` (`ScoredBatch.offsets`).
        let offsets: [Int]

        /// Query qi's scores s. O(1).
        func scoreRow(_ qi: Int) -> UnsafeBufferPointer<Float> {
            UnsafeBufferPointer(rebasing: scores[offsets[qi]..<offsets[qi + 1]])
        }

        /// Query qi's row of ∂J/∂s (only on a step that trains the ESR). O(1).
        func scoreGradientRow(_ qi: Int) -> UnsafeMutableBufferPointer<Float> {
            UnsafeMutableBufferPointer(rebasing: scoreGradient[offsets[qi]..<offsets[qi + 1]])
        }
    }

    /// `buffer` resized to `count` and zeroed. Reuses the storage when the size is unchanged
    /// (one memset-like pass, no page faults); otherwise allocates fresh zeros, since a
    /// resized B×N array would be written in full anyway.
    private static func zero(_ buffer: inout [Float], count: Int) {
        if buffer.count != count {
            buffer = [Float](repeating: 0, count: count)
        } else {
            buffer.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        }
    }
}
