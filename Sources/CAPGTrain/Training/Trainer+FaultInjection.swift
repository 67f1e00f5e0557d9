/// A failure injected on purpose by the multi-rank tests (`mpirun` a failing rank, a NaN
/// gradient): config key `inject_failure = "RANK:STEP"` or `"RANK:STEP:nan"`. A testing
/// aid, not a user setting, so `TrainingConfig.keys` (help, error messages) leaves it out.
/// Parsed once when the trainer is built, so a step only compares two integers.
struct InjectedFault: Equatable {
    let rank: Int
    let step: Int
    /// Poison ∂J/∂s with a NaN, to be caught by the non-finite check, instead of throwing.
    let nan: Bool

    /// The fault `config` asks for, if any.
    init?(_ config: TrainingConfig) {
        guard let f = config.failure else { return nil }
        rank = f.rank; step = f.step; nan = f.nan
    }
}

extension Trainer {
    /// TEST-ONLY. The one place a step applies `injectedFault`: after the estimate phase,
    /// before the non-finite check, on a step that trains the ESR, on the fault's rank and
    /// step. Throws `TrainingError.injected`, or (`nan`) sets ∂J/∂s[0] to NaN and names the
    /// first local query as the non-finite one. O(1); a no-op without a fault.
    func applyInjectedFault(_ plan: StepPlan, _ pass: ForwardPass, to local: inout LocalStepSums,
                            buffers: inout StepBuffers) throws {
        guard let f = injectedFault, plan.trainsESR, f.rank == communicator.rank, f.step == plan.step else { return }
        if !f.nan { throw TrainingError.injected(rank: f.rank, step: plan.step) }
        if !buffers.scoreGradient.isEmpty { buffers.scoreGradient[0] = .nan }
        local.nonFiniteQuery = pass.ids.first
    }
}
