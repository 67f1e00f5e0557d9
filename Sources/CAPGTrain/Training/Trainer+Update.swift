extension Trainer {
    /// **Update phase.** The same update on every rank, so the replicas stay identical:
    /// θ ← θ + optimizer(∇θ) when the step trains the ESR, φ ← φ + optimizer_φ(∇φ) when it
    /// trains the learned LSR, and the running baseline
    /// b ← decay · b + (1 − decay) · mean reward (b ← mean reward at step 0).
    /// Returns ‖(∇θ, ∇φ)‖² of the applied gradients (summed in Double, θ's first). O(P + F).
    func update(_ plan: StepPlan, _ reduced: ReducedStepSums, buffers: StepBuffers) -> Double {
        var norm2 = 0.0
        for v in buffers.gradient { norm2 += Double(v) * Double(v) }
        if plan.trainsESR { optimizer.ascend(parameters: &parameters, gradient: buffers.gradient) }
        if plan.trainsLSR, var opt = lateStageOptimizer {
            let lg = reduced.lateStageGradient
            for v in lg { norm2 += Double(v) * Double(v) }
            opt.ascend(parameters: &lateStageWeights, gradient: lg)
            lateStageOptimizer = opt
        }
        let mean = reduced.meanReward
        runningBaseline = plan.step == 0 ? mean : config.baselineDecay * runningBaseline + (1 - config.baselineDecay) * mean
        return norm2
    }
}
