extension Trainer {
    /// **Backward phase.** `∂J/∂θ = Σ_q (∂s_q/∂θ)ᵀ ∂J/∂s_q` of the local batch into
    /// `buffers.gradient` (zeroed first; left empty when the step does not train the ESR).
    /// Cost: O(P) to zero plus the task's backward (the two-tower ESR: two GEMMs).
    func backward(_ plan: StepPlan, _ pass: ForwardPass, buffers: inout StepBuffers) {
        buffers.prepareGradient(parameterCount: parameters.count, trainsESR: plan.trainsESR)
        guard plan.trainsESR else { return }
        task.backward(parameters: parameters, batch: pass.batch, scoreGradient: buffers.scoreGradient,
                      into: &buffers.gradient)
    }
}
