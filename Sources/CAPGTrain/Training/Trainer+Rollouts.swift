import CAPGCore

extension Trainer {
    /// **Rollouts phase.** For every local query q, the M rollouts: σ_m ~ Gumbel-top-K(s_q),
    /// a_m ~ π₂(· | S_m), r_m, with randomness keyed by (seed, step, query id, m), into
    /// `buffers.rollouts[q]` (and `buffers.stats[q]`), after readying `buffers` for the batch.
    ///
    /// On the fused path (`plan.fused`) it also adds `scale · ĝ(s_q)` to the query's ∂J/∂s
    /// row while the widened row is hot in cache, so the estimate phase only sums the stats;
    /// the rollouts are then kept only when the learned LSR needs them.
    ///
    /// Runs on the worker threads, one query per thread at a time. Cost per query:
    /// M · O(N + K log K) sampling, plus the estimator's cost on the fused path.
    func drawRollouts(_ plan: StepPlan, _ pass: ForwardPass, buffers: inout StepBuffers) {
        buffers.prepare(for: pass.batch, trainsESR: plan.trainsESR)
        let estimator = self.estimator
        let (ids, queries) = (pass.ids, pass.lateStageQueries)
        buffers.withRows(of: pass.batch) { rows in
            forEachQuery(pass.count) { qi, ws in
                if plan.fused {
                    rows.stats[qi] = estimator.accumulate(
                        scores: rows.scoreRow(qi), query: queries[qi], seed: plan.seed, step: plan.step,
                        queryID: ids[qi], runningBaseline: plan.runningBaseline, scale: plan.scale,
                        into: rows.scoreGradientRow(qi), workspace: ws, overwrite: true)
                    if plan.trainsLSR { rows.rollouts[qi] = rows.stats[qi].rollouts }
                } else {
                    rows.rollouts[qi] = estimator.rollouts(scores: rows.scoreRow(qi), query: queries[qi], seed: plan.seed,
                                                           step: plan.step, queryID: ids[qi], workspace: ws)
                }
            }
        }
    }
}
