extension Trainer {
    /// **Reduce phase.** Sums over ranks, in place:
    ///
    /// - the flat ∂J/∂θ in `buffers.gradient`: one fused allreduce of P floats, only when the
    ///   step trains the ESR;
    /// - the metric vector `[Σr, Σsamples, stop requests, ∇_φ…]`: one small allreduce of
    ///   3 + F doubles. The rank's stop request (`localStopRequest`, polled here) and the
    ///   learned LSR's gradient ride in it, so neither costs a collective of its own.
    ///
    /// Every rank calls the same collectives in the same order (the plan is the same on all).
    func reduce(_ plan: StepPlan, _ local: LocalStepSums, buffers: inout StepBuffers) -> ReducedStepSums {
        if plan.trainsESR { communicator.allreduceSum(&buffers.gradient) }
        var sums = [local.rewardSum, local.sampleCount, localStopRequest() ? 1 : 0] + local.lateStageGradient
        communicator.allreduceSum(&sums)
        return ReducedStepSums(reduced: sums)
    }
}
