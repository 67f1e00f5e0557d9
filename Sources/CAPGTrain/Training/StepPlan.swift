/// What one training step will do, decided once before any work so every phase reads the
/// same decisions (and a test can hand a phase a plan of its own).
///
/// The step's gradients are of the mean over the *global* batch: every rank scales its
/// per-query estimates by `scale = 1/B`, so the allreduce sum is the mean.
struct StepPlan {
    /// The step number t; with `seed` it keys every random draw of the step.
    let step: Int
    let seed: UInt64
    /// Whether the step updates the ESR's θ / the learned LSR's φ (`LateStageMode` at t).
    let trainsESR: Bool
    let trainsLSR: Bool
    /// Rewards come from an external `RewardSource`: all local rollouts are drawn first and
    /// scored in one call, so the ESR estimate must wait for them.
    let externalRewards: Bool
    /// 1/B, B the global batch size.
    let scale: Double
    /// The baseline b of earlier steps (V-PG `mean` baseline, learned LSR advantage r − b);
    /// from earlier steps so the estimates stay unbiased.
    let runningBaseline: Double

    /// Sample and estimate in one pass per query while the widened score row is hot in
    /// cache (a performance feature): possible when the rewards are known as the rollouts
    /// are drawn and the step trains the ESR.
    var fused: Bool { trainsESR && !externalRewards }
}
