import CAPGCore

extension Trainer {
    /// **Estimate phase.** Completes ∂J/∂s and sums what the rank saw:
    ///
    /// - external rewards, ESR trained: adds `scale · ĝ(s_q)` for the scored rollouts to each
    ///   query's ∂J/∂s row (worker threads; the estimator's cost per query);
    /// - fused path: nothing per query (the rollouts phase already estimated);
    /// - ESR not trained: each query's reward sum and sample count from its rollouts;
    ///
    /// then sums the per-query stats in query order (`LocalStepSums`, independent of the
    /// thread count) and, when the step trains the learned LSR, its gradient
    /// (`lateStageGradient`).
    func estimate(_ plan: StepPlan, _ pass: ForwardPass, buffers: inout StepBuffers) -> LocalStepSums {
        let count = pass.count
        if plan.trainsESR && !plan.fused {
            let estimator = self.estimator
            let queries = pass.lateStageQueries
            buffers.withRows(of: pass.batch) { rows in
                forEachQuery(count) { qi, ws in
                    rows.stats[qi] = estimator.accumulate(
                        rollouts: rows.rollouts[qi], scores: rows.scoreRow(qi), query: queries[qi],
                        runningBaseline: plan.runningBaseline, scale: plan.scale,
                        into: rows.scoreGradientRow(qi), workspace: ws, overwrite: true)
                }
            }
        } else if !plan.trainsESR {
            for qi in 0..<count {
                buffers.stats[qi].rewardSum = buffers.rollouts[qi].reduce(0) { $0 + $1.reward }
                buffers.stats[qi].samples = buffers.rollouts[qi].count
            }
        }
        var sums = LocalStepSums()
        for qi in 0..<count { sums.add(buffers.stats[qi], queryID: pass.ids[qi]) }
        if plan.trainsLSR {
            sums.lateStageGradient = lateStageGradient(rollouts: buffers.rollouts, queries: pass.batch.queries,
                                                       baseline: plan.runningBaseline, scale: plan.scale)
        }
        return sums
    }

    /// `scale · Σ_queries (1/M) Σ_m (r_m − b) ∇_φ log π₂(a_m | S_m)` with b the running
    /// baseline (from earlier steps, so the estimate stays unbiased). O(B·M·K·F).
    func lateStageGradient(rollouts drawn: [[Rollout]], queries: [any RankingQuery], baseline: Double,
                           scale: Double) -> [Double] {
        guard let model = lateStageModel else { return [] }
        var grad = [Double](repeating: 0, count: model.featureCount)
        for (qi, rs) in drawn.enumerated() {
            guard let f = queries[qi] as? any LateStageFeaturized else { continue }
            for r in rs {
                let adv = r.reward - baseline
                if adv == 0 { continue }
                model.accumulateLogProbabilityGradient(
                    weights: lateStageWeights, query: f, candidates: r.candidates, chosenPosition: r.chosenPosition,
                    scale: scale * adv / Double(max(rs.count, 1)), into: &grad)
            }
        }
        return grad
    }
}
