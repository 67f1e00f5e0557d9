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
    /// V-PG over candidates sampled *with* replacement (K i.i.d. draws `a_1..a_K` from
    /// softmax(s), S their distinct items): `(r − b) Σ_k ∇ log softmax(s)_{a_k}` (the paper's
    /// V-PG-SwR). Unbiased for the with-replacement policy's value, not the PL one's.
    case vpgSwr = "vpg-swr"
    /// CA-PG-SwR = TOP1-PG (the paper's name): candidates with replacement as `vpg-swr`,
    /// `r ∇ log softmax(s)_a` for the LSR's pick a. Unbiased for `∇ Σ_a π_a q(a)` at K = 1 only.
    case top1

    /// Whether the rollouts' candidates are K i.i.d. draws from softmax(s) (`RolloutSampler.
    /// sampleWithReplacement`) instead of a Plackett-Luce prefix.
    public var samplesWithReplacement: Bool { self == .vpgSwr || self == .top1 }
}

/// How `vpg-swr` and `top1` draw their candidates (`EstimatorKind.samplesWithReplacement`).
/// The "SwR" of the paper names the *gradient* approximation (`Σ_k ∇ log softmax(s)_{a_k}`,
/// `∇ log softmax(s)_a`); the authors' code (facebookresearch/early_stage_retrieval,
/// `train_early_stage_policy_online`) samples every method's candidates by Gumbel-top-K, i.e.
/// from the Plackett-Luce policy without replacement, and applies the SwR gradient to them.
public enum SwRCandidates: String, CaseIterable, Sendable, Codable {
    /// K i.i.d. draws from softmax(s), S = the distinct draws (`RolloutSampler.
    /// sampleWithReplacement`): V-PG-SwR is then unbiased for the with-replacement policy.
    case withReplacement = "with-replacement"
    /// The Plackett-Luce top-K (Gumbel-top-K, as every other estimator): the authors' code.
    case plackettLuce = "plackett-luce"
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
