import CAPGCore

/// One rank's contribution to a step's metric allreduce: the estimate phase's output,
/// summed over the local queries in query order (so it does not depend on how many
/// worker threads ran the queries).
struct LocalStepSums {
    /// Σ r over the local rollouts, and their number.
    var rewardSum = 0.0
    var sampleCount = 0.0
    /// The id of the last local query (in query order) whose ∂J/∂s row had a NaN or ±∞.
    var nonFiniteQuery: Int? = nil
    /// `scale · Σ_q (1/M) Σ_m (r_m − b) ∇_φ log π₂(a_m | S_m)` of the learned LSR (F values;
    /// empty when the step does not train the LSR).
    var lateStageGradient: [Double] = []

    /// Adds one query's estimate. O(1).
    mutating func add(_ stats: EstimateStats, queryID: Int) {
        rewardSum += stats.rewardSum
        sampleCount += Double(stats.samples)
        if stats.nonFinite { nonFiniteQuery = queryID }
    }

    /// Throws `nonFiniteGradient` naming the offending query, before the gradient can reach
    /// the allreduce and poison every rank.
    func checkFinite(rank: Int, step: Int) throws {
        if let query = nonFiniteQuery { throw TrainingError.nonFiniteGradient(rank: rank, step: step, query: query) }
    }
}
