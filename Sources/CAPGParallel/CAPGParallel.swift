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
/// Per query (per sample when noted), with K the candidate count and I the Newton iterations:
///
/// | phase                                   | reduction            | doubles per shard      |
/// |-----------------------------------------|----------------------|------------------------|
/// | `ShardedGumbelTopK.localTopK` → `merge` | all-gather (or sum into S slots) | 3K            |
/// | `ShardedLogSumExp.localMax`             | max                  | 1                      |
/// | `ShardedLogSumExp.localSum`             | sum                  | 1                      |
/// | threshold: `localMoments` × I (≈ 3–6)   | sum, I times         | 5                      |
/// | threshold rescue (all ψ underflow only) | max, then sum        | 1 + 1                  |
/// | gradients (`accumulateShardGradient`)   | none (local rows)    | —                      |
///
/// So per query: CA-PG/threshold = gather + 1 max + 1 sum + I × 5-double sums; V-PG = gather +
/// 1 max + 1 sum per sample (the tail excludes that sample's σ); top-K = gather + 1 max +
/// 1 sum; distill = gather only. The merged candidates carry their raw scores, so the chosen
/// item's score and σ's scores are known on every shard without a further exchange.
///
/// Typical flow for one query (CA-PG, threshold):
///
/// ```
/// local  = ShardedGumbelTopK.localTopK(scores, shard, k, &stream)     // every shard
/// sample = ShardedGumbelTopK.merge(gather(local), k)                  // identical everywhere
/// restMax = reduceMax(ShardedLogSumExp.localMax(scores, shard, excluding: sample.items))
/// restSum = reduceSum(ShardedLogSumExp.localSum(scores, shard, excluding: sample.items, shift: restMax))
/// p = LogPartition(restMax, restSum); m = p.maximum(excludedScores: sample.scores)
/// driver = ThresholdDriver(k, N, logSumWeights: [p.logTotal(excludedScores: sample.scores) − m],
///                          logHints: [m − sample.kthKey])
/// while !driver.isFinished { driver.step(reduceSum(localMoments at driver.evaluationPoints)) }
/// ShardedThresholdInclusion.accumulateShardGradient(chosen: [(a, s_a, scale)], …, solution, into: &g)
/// ```
///
/// Exactness: the sampler's output is bitwise the full-row `GumbelTopK.sampleWithKey`; the
/// gradients equal the full-row CAPGCore functions to ≈ 1e-12 relative (tested at 1e-9),
/// the differences being the order of summation and the solver's tolerance.
public enum CAPGParallel {}
