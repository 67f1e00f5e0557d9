/// The policy-gradient estimators capg compares (DESIGN §2).
public enum EstimatorKind: String, CaseIterable, Sendable, Codable {
    /// Vanilla PG: `(r − b) ∇ log π(σ)`.
    case vpg
    /// Credit-assigned PG: `r ∇ log P(a ∈ S)`.
    case capg
    /// Top-K off-policy correction (Chen et al. 2019), on-policy form: `r λ_K(a) ∇ log π_a`.
    case topk
    /// On-policy distillation of the LSR over sampled candidate sets (no reward; `Distillation`).
    case distill
}

/// Baselines for V-PG.
public enum BaselineKind: String, CaseIterable, Sendable, Codable {
    /// b = 0.
    case none
    /// b = running mean of the batch-mean reward (exponential moving average over steps).
    case mean
    /// b_m = mean reward of the other M−1 samples of the same context (needs M ≥ 2).
    case loo
}
