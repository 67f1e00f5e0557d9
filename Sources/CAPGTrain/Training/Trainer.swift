import CAPGCore
import CVectorMath
import Foundation

/// The data-parallel training loop. Each step (`trainStep`) runs these phases in order,
/// each a small function in its own file (`Trainer+Forward.swift` … `Trainer+Update.swift`):
///
/// 1. **plan** (`StepPlan`): which models the step trains (`LateStageMode`), whether rewards
///    come from an external source, the scale 1/B and the running baseline;
/// 2. **forward**: this rank's queries of the global batch (the union over ranks is the same
///    for every rank count) and the ESR's scores s of each;
/// 3. **rollouts**: M rollouts per query, randomness keyed by (seed, step, query id, sample);
///    on the fused path (built-in rewards, ESR trained) also the ESR estimate, while the
///    score row is hot in cache;
/// 4. **rewards** (external source only): every local rollout's reward, in one call;
/// 5. **estimate**: the remaining ∂J/∂s rows (external rewards), the rank's reward sums in
///    query order, and the learned LSR's gradient;
/// 6. **backward**: ∂J/∂θ of the local batch into one flat gradient (of the mean over the
///    *global* batch);
/// 7. **reduce**: one fused `allreduceSum` of the gradient and one of the metric sums (which
///    also carries each rank's stop request and the LSR gradient, so all ranks stop after
///    the same step and the LSR costs no extra collective);
/// 8. **update**: the same optimizer updates and running baseline on every rank, so
///    parameters stay replicated.
///
/// Why extensions of the trainer rather than a separate step object: every phase reads the
/// trainer's long-lived state (task, estimator, communicator, θ, φ, optimizers), which a
/// step object would have to borrow or copy. What flows *between* phases is explicit
/// instead: the phases take a `StepPlan` and the previous phase's output (`ForwardPass`,
/// `LocalStepSums`, `ReducedStepSums`) and work in a `StepBuffers` lent to them `inout`, so
/// a test can run one phase on inputs of its own. The step's large arrays live in that one
/// `StepBuffers`, reused across steps, which alone hands out raw rows to the worker threads.
///
/// With a learned LSR (`lsr_mode` ≠ fixed) the LSR's weights φ are a second, small model:
/// its policy gradient `(r − b) ∇_φ log π₂(a | S)` rides in the metric allreduce, and it has
/// its own optimizer; `LateStageMode` says which model a step updates.
///
/// With P = 1 the communicator is the identity; the trajectory for any P equals it up to
/// float summation order.
public final class Trainer {
    public let config: TrainingConfig
    public let communicator: any Communicator
    public let task: any TrainingTask
    public let estimator: PolicyGradientEstimator
    public let evaluator: PolicyEvaluator

    public private(set) var step = 0
    // The update phase (`Trainer+Update.swift`) and `restore` are the only writers of the
    // trained state below, hence `internal(set)`.
    public internal(set) var parameters: [Float]
    public internal(set) var optimizer: any Optimizer
    /// The learned LSR (nil when the LSR is the environment's fixed one), its weights φ and
    /// its own optimizer.
    public let lateStageModel: LinearLateStageModel?
    public internal(set) var lateStageWeights: [Float] = []
    var lateStageOptimizer: (any Optimizer)?
    /// Where training rewards come from when not from the environment (an external scorer).
    public var rewardSource: (any RewardSource)?
    public internal(set) var runningBaseline = 0.0
    /// Random-ESR and oracle-ESR values on the evaluation queries (reduced over ranks).
    public private(set) var randomValue = 0.0
    public private(set) var oracleValue = 0.0
    public private(set) var randomRecall = 0.0

    /// Polled once per step, before the metric allreduce: true when this rank was asked to
    /// stop (a signal). `TrainingRun` sets it; the default never stops.
    public var localStopRequest: () -> Bool = { false }

    /// The step's buffers (score gradient, flat gradient, per-query stats and rollouts, the
    /// recycled score array), reused across steps and lent to the phases.
    var buffers = StepBuffers()

    /// Threads of the per-query loop (sampling and estimator, one query per thread at a
    /// time; every query's gradient row is written by one thread and the per-query sums are
    /// reduced in query order afterwards, so results are bitwise independent of it). The
    /// default is the rank's OpenBLAS thread count (cores / ranks on the node).
    public var workerThreads = max(1, GEMM.threads)

    /// Reused Double rows of the Float-row estimator call, one per worker thread.
    var workspaces: [EstimatorWorkspace] = []

    /// The evaluation's score array (64 queries × N), recycled across its chunks and across
    /// evaluations: a fresh one per chunk page-faulted 1 GB per evaluation at N = 10⁶.
    var evaluationScores: [Float] = []
    /// The evaluation's Double rows, one per worker thread.
    var evaluationRows: [[Double]] = []

    /// The test-only failure of `inject_failure` (see `applyInjectedFault`).
    let injectedFault: InjectedFault?

    /// Evaluation query ids owned by this rank and their LSR favourites.
    let evalIDs: [Int]
    let evalFavourites: [Int]

    /// A trainer on the synthetic environment (the default task).
    public convenience init(config: TrainingConfig, communicator: any Communicator) throws {
        try self.init(config: config, task: embeddedTask(config: config), communicator: communicator)
    }

    public init(config: TrainingConfig, task: any TrainingTask, communicator: any Communicator) throws {
        try config.validate(ranks: communicator.size)
        self.config = config
        self.communicator = communicator
        self.task = task
        injectedFault = InjectedFault(config)
        let lsr = LateStageRanker(temperature: config.lateStageTemperature)
        let sampler = RolloutSampler(k: config.k, lsr: lsr, reward: config.reward)
        estimator = try PolicyGradientEstimator(kind: config.estimator, inclusion: config.inclusion,
                                                baseline: config.baseline, samples: config.samples, sampler: sampler,
                                                swrCandidates: config.swrCandidates)
        evaluator = PolicyEvaluator(k: config.k, lsr: lsr, samples: config.evalSamples, seed: config.envSeed)
        parameters = task.initialParameters()
        optimizer = config.optimizer.make(parameterCount: parameters.count, learningRate: config.lr)
        if config.lsrMode.learnsLSR {
            let model = LinearLateStageModel(featureCount: config.lsrFeatureCount, temperature: config.lsrTemperature)
            lateStageModel = model
            lateStageWeights = model.initialWeights()
            lateStageOptimizer = config.optimizer.make(parameterCount: model.featureCount, learningRate: config.lsrLr)
        } else {
            lateStageModel = nil
        }

        let ids = task.evaluationIDs(rank: communicator.rank, size: communicator.size)
        if let model = lateStageModel, let first = ids.first, let q = task.queries(ids: [first], evaluation: true).first {
            guard let f = q as? any LateStageFeaturized else {
                throw TrainingError.lateStageFeatures("data \(config.data.rawValue) has no LSR features")
            }
            guard f.lateStageFeatureCount == model.featureCount else {
                throw TrainingError.lateStageFeatures("queries have \(f.lateStageFeatureCount) LSR features, the config implies \(model.featureCount)")
            }
        }
        evalIDs = ids
        // The LSR favourite, random-ESR and oracle-ESR values depend only on the queries.
        // The favourite is the first of the LSR's top-K (the oracle's set), found for all
        // evaluation queries at once (`LateStageTopK`: no longer N exact scores per query).
        let evalQueries = task.queries(ids: ids, evaluation: true)
        let tops = LateStageTopK.of(queries: evalQueries, k: config.k)
        let favourites = tops.map { $0.first ?? 0 }  // 0 for an empty universe, as `favourite`
        // O(samples·K) per query (the random ESR's sets need no scores; their rewards are
        // random reads of the item table), on the worker threads (`WorkerThreads`: per-query
        // results, summed in query order below, so bitwise independent of the thread count).
        var perQuery = [(random: EvaluationSums, oracle: EvaluationSums)](repeating: (EvaluationSums(), EvaluationSums()),
                                                                          count: evalQueries.count)
        let evaluator = self.evaluator
        perQuery.withUnsafeMutableBufferPointer { out in
            WorkerThreads.forEach(evalQueries.count, threads: max(1, GEMM.threads)) { i, _ in
                out[i] = (evaluator.randomBaseline(query: evalQueries[i], queryID: ids[i], favourite: favourites[i]),
                          evaluator.oracle(query: evalQueries[i], topK: tops[i]))
            }
        }
        var sums = [Double](repeating: 0, count: 4)
        for (rnd, orc) in perQuery {
            sums[0] += rnd.value; sums[1] += rnd.recall; sums[2] += orc.value; sums[3] += 1
        }
        evalFavourites = favourites
        communicator.allreduceSum(&sums)
        randomValue = sums[0] / max(sums[3], 1)
        randomRecall = sums[1] / max(sums[3], 1)
        oracleValue = sums[2] / max(sums[3], 1)
    }

    /// Query ids of this rank's share of the global batch at `step`.
    public func localQueryIDs(step: Int) -> [Int] {
        task.localBatch(step: step, rank: communicator.rank, size: communicator.size)
    }

    /// One training step: the phases in order (see the type's documentation); returns the
    /// step's metrics (identical on every rank).
    public func trainStep() throws -> StepMetrics {
        let started = Date()
        let plan = plan()
        var pass = forward(plan, buffers: &buffers)
        defer { buffers.recycleScores(of: &pass.batch) }
        drawRollouts(plan, pass, buffers: &buffers)
        if let source = rewardSource { try scoreRollouts(source, plan, pass, buffers: &buffers) }
        var local = estimate(plan, pass, buffers: &buffers)
        try applyInjectedFault(plan, pass, to: &local, buffers: &buffers)
        try local.checkFinite(rank: communicator.rank, step: plan.step)
        backward(plan, pass, buffers: &buffers)
        let computed = Date()
        let reduced = reduce(plan, local, buffers: &buffers)
        let reducedAt = Date()
        let norm2 = update(plan, reduced, buffers: buffers)
        var metrics = StepMetrics(step: plan.step, meanReward: reduced.meanReward, gradientNorm: norm2.squareRoot(),
                                  runningBaseline: runningBaseline,
                                  computeSeconds: computed.timeIntervalSince(started),
                                  allreduceSeconds: reducedAt.timeIntervalSince(computed),
                                  optimizerSeconds: Date().timeIntervalSince(reducedAt), evaluation: nil)
        metrics.stopRequested = reduced.stopRequested
        if !norm2.isFinite { throw TrainingError.nonFiniteParameters(step: plan.step) }
        try advance(&metrics)
        return metrics
    }

    /// Ends the step: the step counter, the periodic replica check and, on evaluation
    /// steps, the evaluation (into `metrics`).
    private func advance(_ metrics: inout StepMetrics) throws {
        step += 1
        if config.checkEvery > 0 && (step % config.checkEvery == 0 || step == config.steps) {
            try checkReplicas()
        }
        if step % config.evalEvery == 0 || step == config.steps {
            metrics.evaluation = evaluate()
        }
    }

    /// The state that determines every later step (see `TrainerState`). O(1) with a fixed
    /// LSR (the arrays are shared copy-on-write until the next step mutates them); with a
    /// learned LSR the parameters are `[ESR | φ]` and its optimizer's buffers follow the
    /// ESR's, prefixed `lsr.`.
    public func exportState() -> TrainerState {
        var buffers = optimizer.stateBuffers.map { TrainerState.Buffer(name: $0.name, values: $0.values) }
        var all = parameters
        if let opt = lateStageOptimizer {
            all += lateStageWeights
            buffers += opt.stateBuffers.map { TrainerState.Buffer(name: "lsr." + $0.name, values: $0.values) }
        }
        return TrainerState(step: step, parameters: all, optimizerKind: optimizer.kind,
                            optimizerUpdates: optimizer.updates, optimizerBuffers: buffers,
                            runningBaseline: runningBaseline, replicasChecked: replicasChecked)
    }

    /// Continues from `state` (e.g. a checkpoint written by a run of the same config at any
    /// rank count). Throws, changing nothing, when the state does not fit this trainer.
    public func restore(_ state: TrainerState) throws {
        let p = parameters.count, f = lateStageModel?.featureCount ?? 0
        guard state.step >= 0 else { throw TrainingError.incompatibleState("negative step \(state.step)") }
        guard state.parameters.count == p + f else {
            throw TrainingError.incompatibleState("\(state.parameters.count) parameters, but the model (\(config.modelDescription)) needs \(p + f)")
        }
        guard state.optimizerKind == config.optimizer else {
            throw TrainingError.incompatibleState("optimizer state is \(state.optimizerKind.rawValue), the run uses \(config.optimizer.rawValue)")
        }
        let byName = Dictionary(state.optimizerBuffers.map { ($0.name, $0.values) }, uniquingKeysWith: { a, _ in a })
        var opt = config.optimizer.make(parameterCount: p, learningRate: config.lr)
        var lsrOpt: (any Optimizer)? = nil
        do {
            try opt.restore(updates: state.optimizerUpdates, buffers: byName.filter { !$0.key.hasPrefix("lsr.") })
            if f > 0 {
                var o = config.optimizer.make(parameterCount: f, learningRate: config.lsrLr)
                let lsr = Dictionary(byName.filter { $0.key.hasPrefix("lsr.") }.map { (String($0.key.dropFirst(4)), $0.value) },
                                     uniquingKeysWith: { a, _ in a })
                try o.restore(updates: config.lsrMode.lsrUpdates(before: state.step, every: config.lsrAlternateEvery),
                              buffers: lsr)
                lsrOpt = o
            }
        } catch {
            throw TrainingError.incompatibleState("\(error)")
        }
        step = state.step
        parameters = Array(state.parameters[0..<p])
        if f > 0 { lateStageWeights = Array(state.parameters[p...]) }
        optimizer = opt
        lateStageOptimizer = lsrOpt
        runningBaseline = state.runningBaseline
        replicasChecked = state.replicasChecked
    }

    /// Verifies that every rank holds bitwise the same parameters: the first 8 bytes of the
    /// SHA-256 of the parameter bytes, as two 32-bit halves, are max-reduced together with
    /// their negations (one allreduce): all ranks agree iff max = −max(−x) = min.
    public func checkReplicas() throws {
        let digest = SHA256.hex(floats: lateStageModel == nil ? parameters : parameters + lateStageWeights)
        let a = Double(UInt32(digest.prefix(8), radix: 16)!), b = Double(UInt32(digest.dropFirst(8).prefix(8), radix: 16)!)
        var buf = [a, b, -a, -b]
        communicator.allreduceMax(&buf)
        if buf[0] != -buf[2] || buf[1] != -buf[3] { throw TrainingError.replicasDiverged(step: step) }
        replicasChecked += 1
    }

    /// How many replica checks passed.
    public private(set) var replicasChecked = 0

    /// Evaluation on the fixed evaluation queries (sharded over ranks, sums allreduced):
    /// `PolicyEvaluator.evaluate` per query on the worker threads (`WorkerThreads`; each
    /// thread widens the Float scores into its own reused Double row; the score array is
    /// recycled too, `evaluationScores`), summed in query order,
    /// so the result is bitwise independent of the thread count. O(Q·samples·N / T).
    public func evaluate() -> StepMetrics.Evaluation {
        var total = EvaluationSums()
        var ndcgSum = 0.0, ndcgCount = 0.0
        let chunk = 64
        let threads = max(1, workerThreads)
        if evaluationRows.count < threads { evaluationRows += Array(repeating: [], count: threads - evaluationRows.count) }
        var results = [(EvaluationSums, Double?)](repeating: (EvaluationSums(), nil), count: chunk)
        var start = 0
        while start < evalIDs.count {
            let end = min(start + chunk, evalIDs.count)
            var batch = task.forward(parameters: parameters, ids: Array(evalIDs[start..<end]), evaluation: true,
                                     recycling: &evaluationScores)
            evaluationRows.withUnsafeMutableBufferPointer { rows in
                results.withUnsafeMutableBufferPointer { out in
                    WorkerThreads.forEach(batch.queries.count, threads: threads) { i, t in
                        let range = batch.range(i)
                        if rows[t].count != range.count { rows[t] = [Double](repeating: 0, count: range.count) }
                        // Widened by the vectorized pass the training rows use (its range unused).
                        batch.scores.withUnsafeBufferPointer { s in
                            rows[t].withUnsafeMutableBufferPointer { r in
                                var top: Float = 0, bottom: Float = 0
                                if range.count > 0 {
                                    capg_widen_minmax(s.baseAddress! + range.lowerBound, r.baseAddress!, range.count, &top, &bottom)
                                }
                            }
                        }
                        let base = batch.queries[i]
                        // A learned LSR has its own favourite (recall is measured against it).
                        let q = lateStageView(base)
                        let favourite = lateStageModel == nil ? evalFavourites[start + i] : estimator.sampler.lsr.favourite(query: q)
                        out[i] = (evaluator.evaluate(scores: rows[t], query: q, queryID: evalIDs[start + i], favourite: favourite),
                                  task.ndcg(scores: rows[t], query: base, k: config.k))
                    }
                }
            }
            for (sums, ndcg) in results[0..<batch.queries.count] {
                total = total + sums
                if let ndcg { ndcgSum += ndcg; ndcgCount += 1 }
            }
            swap(&evaluationScores, &batch.scores)
            start = end
        }
        var sums = [total.value, total.recall, total.count, ndcgSum, ndcgCount]
        communicator.allreduceSum(&sums)
        let v = sums[0] / max(sums[2], 1)
        let denom = oracleValue - randomValue
        var e = StepMetrics.Evaluation(value: v, normalizedValue: denom != 0 ? (v - randomValue) / denom : 0,
                                       recall: sums[1] / max(sums[2], 1))
        if sums[4] > 0 { e.ndcg = sums[3] / sums[4] }
        return e
    }
}
