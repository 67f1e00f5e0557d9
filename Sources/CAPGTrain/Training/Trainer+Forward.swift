import CAPGCore

extension Trainer {
    /// The decisions of step `step` (see `StepPlan`). O(1).
    func plan() -> StepPlan {
        let every = config.lsrAlternateEvery
        return StepPlan(step: step, seed: config.seed,
                        trainsESR: config.lsrMode.updatesESR(step: step, every: every),
                        trainsLSR: config.lsrMode.updatesLSR(step: step, every: every),
                        externalRewards: rewardSource != nil,
                        scale: 1 / Double(config.batchSize), runningBaseline: runningBaseline)
    }

    /// **Forward phase.** The ESR's scores `s_q = f_θ(x_q)` of this rank's share of the
    /// batch, written into the score array `buffers` recycled from the previous step (give
    /// it back with `recycleScores`). Cost: the task's forward (the two-tower ESR: one
    /// B_local × d × N GEMM), plus O(B_local) LSR views.
    func forward(_ plan: StepPlan, buffers: inout StepBuffers) -> ForwardPass {
        let batch = task.forward(parameters: parameters, ids: localQueryIDs(step: plan.step), evaluation: false,
                                 recycling: &buffers.recycledScores)
        let views = lateStageModel == nil ? batch.queries : batch.queries.map(lateStageView)
        return ForwardPass(batch: batch, lateStageQueries: views)
    }

    /// `q` as the LSR currently sees it: through the learned weights φ, or unchanged.
    func lateStageView(_ q: any RankingQuery) -> any RankingQuery {
        guard let model = lateStageModel, let f = q as? any LateStageFeaturized else { return q }
        return LearnedLateStageQuery(base: f, model: model, weights: lateStageWeights)
    }
}
