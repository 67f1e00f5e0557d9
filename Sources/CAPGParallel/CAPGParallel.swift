/// # CAPGParallel: item-sharded (model-parallel) estimator math
///
/// The N items of a row are split into S contiguous shards (`ItemShard`: shard s holds
/// `⌊sN/S⌋ ..< ⌊(s+1)N/S⌋`); the rank of shard s holds only its items' scores. Every sharded
/// algorithm here is a sequence of **phases**: a *local* function of the shard's scores that
/// returns a small fixed-size vector per query, a *reduction* of those vectors over the S
/// shards done by the caller (sum or max — an MPI allreduce inside the item group; in tests a
/// loop), and the next local phase, which consumes the reduced values. This module never
/// communicates and does no I/O; every payload is a few doubles per query, so the caller can
/// reduce a whole query chunk in one collective (`ThresholdMoments.pack`, `ShardCandidate.pack`).
///
/// Per query (per sample when noted), with K the candidate count and I the threshold rounds:
///
/// | phase                                          | reduction               | doubles per query |
/// |------------------------------------------------|-------------------------|-------------------|
/// | `ShardedGumbelTopK.localTopK` → `merge`        | all-gather (or sum into S slots) | 3K per shard |
/// | `ShardedLogSumExp.localMax` (row minus σ)      | max                     | 1                 |
/// | `ShardedLogSumExp.localSum` (row minus σ)      | sum                     | 1                 |
/// | threshold: `ShardedThresholdInclusion.localMoments`, I rounds | sum, I times | 5        |
/// | (or the same rounds from a `ThresholdShardRow`: hot/cold split, O(#hot) work per round) | | |
/// | threshold ψ rescue (only if every ψ underflows) | max, then sum          | 1 + 1             |
/// | `accumulateShardGradient` (all estimators)     | none                    | —                 |
///
/// So per query: CA-PG/threshold = gather + 1 max + 1 sum + I × 5-double sums (I ≈ 4.4 on
/// average, ≤ 7, with the Gumbel K-th arrival time as the start; ≤ 20 at score gaps of 2000);
/// V-PG = gather + (1 max + 1 sum) per sample (the tail excludes that sample's σ); top-K =
/// gather + 1 max + 1 sum; distill = gather only. The merged candidates carry their raw
/// scores, so the chosen item's and σ's scores are known on every shard without a further
/// exchange, and the partition excluding σ also yields the full-row max and log-sum-exp
/// (`LogPartition.maximum`/`logTotal`).
///
/// Typical flow for one query (CA-PG, threshold; `reduceMax`/`reduceSum`/`gather` are the
/// caller's collectives):
///
/// ```
/// local   = try ShardedGumbelTopK.localTopK(scores: s, shard: shard, k: K, stream: &stream)
/// sample  = ShardedGumbelTopK.merge(gather(local), k: K)            // identical on every shard
/// restMax = reduceMax(try ShardedLogSumExp.localMax(scores: s, shard: shard, excluding: sample.items))
/// restSum = reduceSum(try ShardedLogSumExp.localSum(scores: s, shard: shard, excluding: sample.items,
///                                                    shift: restMax))
/// let p = LogPartition(restMax: restMax, restSum: restSum)
/// let m = p.maximum(excludedScores: sample.scores)
/// var driver = ThresholdDriver(k: K, itemCount: N, logSumWeights: [p.logTotal(excludedScores: sample.scores) - m],
///                              logHints: [m - sample.kthKey])
/// while !driver.isFinished {
///     let local = try ShardedThresholdInclusion.localMoments(scores: s, shard: shard, shift: m,
///                                                             logT: driver.evaluationPoints[0]!)
///     try driver.step(ThresholdMoments.unpack(reduceSum(ThresholdMoments.pack([local]))))
/// }
/// try ShardedThresholdInclusion.accumulateShardGradient(chosen: [(a, s_a, scale)], scores: s, shard: shard,
///     shift: m, solution: driver.solutions[0]!, into: &g)       // g: this shard's n_s entries
/// ```
///
/// The trainer runs the threshold phases through `ThresholdShardRow` (`prepareRow`, whose
/// weight sum is the `localSum` term; `localMomentsPayload(rows:…)`;
/// `accumulateShardGradient(…row:…)`): the same reductions and results to rounding, with
/// one vectorized exp per item to split and O(#hot) exps per round, as the single-process
/// `ThresholdInclusion.fastGradients`.
///
/// Exactness: the sampler's output is bitwise the full-row `GumbelTopK.sampleWithKey`; the
/// gradients equal the full-row CAPGCore functions to ≈ 1e-12 relative (tested at 1e-9)
/// wherever those are well conditioned. Where they are not (threshold at score gaps ≳ 40 with
/// K = 1, or ≳ 300 for K ≥ 2; top-K with `1 − π_a < 1e-6`) this module is the more accurate
/// one (tested against independent references); see `ThresholdMoments` and
/// `ShardedTopKCorrection`.
public enum CAPGParallel {}
