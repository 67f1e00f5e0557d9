/// The reduce phase's output: the metric sums over all ranks, identical on every rank.
struct ReducedStepSums {
    /// Σ r and the number of rollouts over the global batch.
    var rewardSum: Double
    var sampleCount: Double
    /// Some rank was asked to stop before this step's allreduce, so all ranks stop after it.
    var stopRequested: Bool
    /// ∇_φ of the learned LSR summed over ranks, as the optimizer's floats (F values, empty
    /// when the step does not train the LSR).
    var lateStageGradient: [Float]

    /// The metric vector `[Σr, Σsamples, stop requests, ∇_φ…]` as reduced. O(F).
    init(reduced sums: [Double]) {
        rewardSum = sums[0]
        sampleCount = sums[1]
        stopRequested = sums[2] > 0
        lateStageGradient = sums[3...].map { Float($0) }
    }

    /// The mean reward per rollout, Σr / max(Σsamples, 1).
    var meanReward: Double { rewardSum / max(sampleCount, 1) }
}
