import CAPGCore

extension Trainer {
    /// **Update phase.** The same update on every rank, so the replicas stay identical:
    /// θ ← θ + optimizer(∇θ) when the step trains the ESR, φ ← φ + optimizer_φ(∇φ) when it
    /// trains the learned LSR, and the running baseline
    /// b ← decay · b + (1 − decay) · mean reward (b ← mean reward at step 0).
    /// Returns ‖(∇θ, ∇φ)‖² of the applied gradients (each summed in Double by
    /// `StableMath.sumOfSquares`, θ's first). O(P + F).
    func update(_ plan: StepPlan, _ reduced: ReducedStepSums, buffers: StepBuffers) -> Double {
        var norm2 = buffers.gradient.withUnsafeBufferPointer { StableMath.sumOfSquares($0) }
        if plan.trainsESR { optimizer.ascend(parameters: &parameters, gradient: buffers.gradient) }
        if plan.trainsLSR, var opt = lateStageOptimizer {
            let lg = reduced.lateStageGradient
            norm2 += lg.withUnsafeBufferPointer { StableMath.sumOfSquares($0) }
            opt.ascend(parameters: &lateStageWeights, gradient: lg)
            lateStageOptimizer = opt
        }
        let mean = reduced.meanReward
        runningBaseline = plan.step == 0 ? mean : config.baselineDecay * runningBaseline + (1 - config.baselineDecay) * mean
        return norm2
    }
}
