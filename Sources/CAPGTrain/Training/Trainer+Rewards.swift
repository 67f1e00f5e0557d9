import CAPGCore

extension Trainer {
    /// **Rewards phase** (external rewards only). Replaces the reward of every local rollout
    /// in `buffers.rollouts` by the source's, asked in one call for the whole local batch so
    /// a scorer can batch its work. O(B_local · M · K) to build the request, plus the
    /// source's time.
    func scoreRollouts(_ source: any RewardSource, _ plan: StepPlan, _ pass: ForwardPass,
                       buffers: inout StepBuffers) throws {
        var items = [RewardRequestItem]()
        for (qi, rs) in buffers.rollouts.enumerated() {
            let key = (pass.batch.queries[qi] as? LetorQuery)?.qid ?? ""
            for (m, r) in rs.enumerated() {
                items.append(RewardRequestItem(queryID: pass.ids[qi], queryKey: key, sample: m, chosen: r.chosen,
                                               candidates: r.candidates))
            }
        }
        let rewards = try source.rewards(step: plan.step, items: items)
        guard rewards.count == items.count else {
            throw TrainingError.rewardCount(step: plan.step, expected: items.count, got: rewards.count)
        }
        var i = 0
        for qi in buffers.rollouts.indices {
            for m in buffers.rollouts[qi].indices { buffers.rollouts[qi][m].reward = rewards[i]; i += 1 }
        }
    }
}
