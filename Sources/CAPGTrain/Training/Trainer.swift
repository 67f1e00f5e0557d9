import CAPGCore
import Foundation

/// The data-parallel training loop. Each step:
///
/// 1. the task names this rank's queries of the global batch (the union over ranks is the
///    same for every rank count);
/// 2. ESR forward, one estimator call per owned query (randomness keyed by
///    (seed, step, query id, sample)), ESR backward into one flat gradient of the mean over
///    the *global* batch;
/// 3. one fused `allreduceSum` of the gradient and one of the metric sums (which also
///    carries each rank's stop request, so all ranks stop after the same step);
/// 4. the same optimizer update on every rank, so parameters stay replicated.
///
/// With a learned LSR (`lsr_mode` ≠ fixed) the LSR's weights φ are a second, small model:
/// its policy gradient `(r − b) ∇_φ log π₂(a | S)` rides in the metric allreduce, and it has
/// its own optimizer; `LateStageMode` says which model a step updates. With an external
/// `rewardSource` a step first draws all local rollouts, asks the source for their rewards
/// in one call, then runs the estimator on them.
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
    public private(set) var parameters: [Float]
    public private(set) var optimizer: any Optimizer
    /// The learned LSR (nil when the LSR is the environment's fixed one), its weights φ and
    /// its own optimizer.
    public let lateStageModel: LinearLateStageModel?
    public private(set) var lateStageWeights: [Float] = []
    private var lateStageOptimizer: (any Optimizer)?
    /// Where training rewards come from when not from the environment (an external scorer).
    public var rewardSource: (any RewardSource)?
    public private(set) var runningBaseline = 0.0
    /// Random-ESR and oracle-ESR values on the evaluation queries (reduced over ranks).
    public private(set) var randomValue = 0.0
    public private(set) var oracleValue = 0.0
    public private(set) var randomRecall = 0.0

    /// Polled once per step, before the metric allreduce: true when this rank was asked to
    /// stop (a signal). `TrainingRun` sets it; the default never stops.
    public var localStopRequest: () -> Bool = { false }

    /// Step buffers reused across steps (∂J/∂s of the local batch, the flat gradient), so a
    /// step does not allocate and page-fault B×N floats: they are only zeroed.
    private var scoreGradientBuffer: [Float] = []
    private var gradientBuffer: [Float] = []
    /// The previous step's B×N score array, handed back to the task's forward pass.
    private var scoreBuffer: [Float] = []

    /// Threads of the per-query loop (sampling and estimator, one query per thread at a
    /// time; every query's gradient row is written by one thread and the per-query sums are
    /// reduced in query order afterwards, so results are bitwise independent of it). The
    /// default is the rank's OpenBLAS thread count (cores / ranks on the node).
    public var workerThreads = max(1, GEMM.threads)

    /// Reused Double rows of the Float-row estimator call, one per worker thread.
    private var workspaces: [EstimatorWorkspace] = []

    /// Evaluation query ids owned by this rank and their LSR favourites.
    let evalIDs: [Int]
    let evalFavourites: [Int]

    /// A trainer on the synthetic environment (the default task).
    public convenience init(config: TrainingConfig, communicator: any Communicator) throws {
        try self.init(config: config, task: SyntheticTask(config: config), communicator: communicator)
    }

    public init(config: TrainingConfig, task: any TrainingTask, communicator: any Communicator) throws {
        try config.validate(ranks: communicator.size)
        self.config = config
        self.communicator = communicator
        self.task = task
        let lsr = LateStageRanker(temperature: config.lsrTemperature)
        let sampler = RolloutSampler(k: config.k, lsr: lsr, reward: config.reward)
        estimator = try PolicyGradientEstimator(kind: config.estimator, inclusion: config.inclusion,
                                                baseline: config.baseline, samples: config.samples, sampler: sampler)
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
        var favourites = [Int]()
        var sums = [Double](repeating: 0, count: 4)
        for (i, q) in task.queries(ids: ids, evaluation: true).enumerated() {
            let fav = lsr.favourite(query: q)
            favourites.append(fav)
            let rnd = evaluator.randomBaseline(query: q, queryID: ids[i], favourite: fav)
            let orc = evaluator.oracle(query: q)
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

    /// Runs `body(qi, workspace)` for every qi < count: query qi on worker thread
    /// `qi mod T` with that thread's workspace. The callers write only to query qi's own
    /// gradient row and result slot, so the threads never touch the same memory.
    private func forEachQuery(_ count: Int, _ body: @escaping (Int, EstimatorWorkspace) -> Void) {
        let threads = max(1, min(workerThreads, count))
        while workspaces.count < threads { workspaces.append(EstimatorWorkspace()) }
        if threads == 1 {
            for qi in 0..<count { body(qi, workspaces[0]) }
            return
        }
        let job = QueryJob(body: body, pool: workspaces)
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            var qi = t
            while qi < count {
                job.body(qi, job.pool[t])
                qi += threads
            }
        }
    }

    /// `q` as the LSR currently sees it: through the learned weights φ, or unchanged.
    func lateStageView(_ q: any RankingQuery) -> any RankingQuery {
        guard let model = lateStageModel, let f = q as? any LateStageFeaturized else { return q }
        return LearnedLateStageQuery(base: f, model: model, weights: lateStageWeights)
    }

    /// One training step; returns the step's metrics (identical on every rank).
    public func trainStep() throws -> StepMetrics {
        let t0 = Date()
        let every = config.lsrAlternateEvery
        let trainESR = config.lsrMode.updatesESR(step: step, every: every)
        let trainLSR = config.lsrMode.updatesLSR(step: step, every: every)
        let ids = localQueryIDs(step: step)
        var batch = task.forward(parameters: parameters, ids: ids, evaluation: false, recycling: &scoreBuffer)
        defer { swap(&scoreBuffer, &batch.scores) }
        let queries = lateStageModel == nil ? batch.queries : batch.queries.map(lateStageView)
        var g = Self.zeroed(&scoreGradientBuffer, count: trainESR ? batch.scores.count : 0)
        defer { scoreGradientBuffer = g }
        var rewardSum = 0.0, sampleCount = 0.0, bad = -1
        let scale = 1 / Double(config.batchSize)
        let count = queries.count
        var stats = [EstimateStats](repeating: EstimateStats(), count: count)
        var drawn = [[Rollout]](repeating: [], count: count)
        let fused = trainESR && rewardSource == nil
        let (seed, stepNow, baseline, estimator) = (config.seed, step, runningBaseline, self.estimator)
        batch.scores.withUnsafeBufferPointer { sb in
            g.withUnsafeMutableBufferPointer { gbRef in
                let gb = gbRef
                stats.withUnsafeMutableBufferPointer { stRef in
                    let st = stRef
                    drawn.withUnsafeMutableBufferPointer { drRef in
                        let dr = drRef
                        forEachQuery(count) { qi, ws in
                            let range = batch.range(qi)
                            let row = UnsafeBufferPointer(rebasing: sb[range])
                            if fused {
                                // Sample and estimate while the widened row is hot.
                                st[qi] = estimator.accumulate(
                                    scores: row, query: queries[qi], seed: seed, step: stepNow, queryID: ids[qi],
                                    runningBaseline: baseline, scale: scale,
                                    into: UnsafeMutableBufferPointer(rebasing: gb[range]), workspace: ws)
                                if trainLSR { dr[qi] = st[qi].rollouts }
                            } else {
                                dr[qi] = estimator.rollouts(scores: row, query: queries[qi], seed: seed, step: stepNow,
                                                            queryID: ids[qi], workspace: ws)
                            }
                        }
                    }
                }
            }
        }
        if let source = rewardSource {
            try applyExternalRewards(source, to: &drawn, ids: ids, queries: batch.queries)
        }
        if trainESR && rewardSource != nil {
            batch.scores.withUnsafeBufferPointer { sb in
                g.withUnsafeMutableBufferPointer { gbRef in
                let gb = gbRef
                    stats.withUnsafeMutableBufferPointer { stRef in
                    let st = stRef
                        drawn.withUnsafeBufferPointer { dr in
                            forEachQuery(count) { qi, ws in
                                let range = batch.range(qi)
                                st[qi] = estimator.accumulate(
                                    rollouts: dr[qi], scores: UnsafeBufferPointer(rebasing: sb[range]), query: queries[qi],
                                    runningBaseline: baseline, scale: scale,
                                    into: UnsafeMutableBufferPointer(rebasing: gb[range]), workspace: ws)
                            }
                        }
                    }
                }
            }
        } else if !trainESR {
            for qi in 0..<count {
                stats[qi].rewardSum = drawn[qi].reduce(0) { $0 + $1.reward }
                stats[qi].samples = drawn[qi].count
            }
        }
        // Reduced in query order, so the sums do not depend on the thread count.
        for qi in 0..<count {
            rewardSum += stats[qi].rewardSum; sampleCount += Double(stats[qi].samples)
            if stats[qi].nonFinite { bad = ids[qi] }
        }
        let lateStageGradient = trainLSR ? lateStageGradient(rollouts: drawn, queries: batch.queries, scale: scale) : []
        if trainESR, let f = config.failure, f.rank == communicator.rank, f.step == step {
            if !f.nan { throw TrainingError.injected(rank: f.rank, step: step) }
            if !g.isEmpty { g[0] = .nan; bad = ids[0] }
        }
        if bad >= 0 {
            throw TrainingError.nonFiniteGradient(rank: communicator.rank, step: step, query: bad)
        }
        var gradient = Self.zeroed(&gradientBuffer, count: trainESR ? parameters.count : 0)
        defer { gradientBuffer = gradient }
        if trainESR { task.backward(parameters: parameters, batch: batch, scoreGradient: g, into: &gradient) }
        let t1 = Date()
        if trainESR { communicator.allreduceSum(&gradient) }
        // The metric sums carry the stop request and the (small) LSR gradient: no extra allreduce.
        var sums = [rewardSum, sampleCount, localStopRequest() ? 1 : 0] + lateStageGradient
        communicator.allreduceSum(&sums)
        let t2 = Date()
        var norm2 = 0.0
        for v in gradient { norm2 += Double(v) * Double(v) }
        if trainESR { optimizer.ascend(parameters: &parameters, gradient: gradient) }
        if trainLSR, var opt = lateStageOptimizer {
            let lg = sums[3...].map { Float($0) }
            for v in lg { norm2 += Double(v) * Double(v) }
            opt.ascend(parameters: &lateStageWeights, gradient: lg)
            lateStageOptimizer = opt
        }
        let meanReward = sums[0] / max(sums[1], 1)
        runningBaseline = step == 0 ? meanReward : config.baselineDecay * runningBaseline + (1 - config.baselineDecay) * meanReward
        let t3 = Date()
        var metrics = StepMetrics(step: step, meanReward: meanReward, gradientNorm: norm2.squareRoot(),
                                  runningBaseline: runningBaseline,
                                  computeSeconds: t1.timeIntervalSince(t0), allreduceSeconds: t2.timeIntervalSince(t1),
                                  optimizerSeconds: t3.timeIntervalSince(t2), evaluation: nil)
        metrics.stopRequested = sums[2] > 0
        if !norm2.isFinite { throw TrainingError.nonFiniteParameters(step: step) }
        step += 1
        if config.checkEvery > 0 && (step % config.checkEvery == 0 || step == config.steps) {
            try checkReplicas()
        }
        if step % config.evalEvery == 0 || step == config.steps {
            metrics.evaluation = evaluate()
        }
        return metrics
    }

    /// Replaces the rewards of `drawn` (per local query, per sample) by the source's, asked
    /// in one call for the whole local batch.
    private func applyExternalRewards(_ source: any RewardSource, to drawn: inout [[Rollout]], ids: [Int],
                                      queries: [any RankingQuery]) throws {
        var items = [RewardRequestItem]()
        for (qi, rs) in drawn.enumerated() {
            let key = (queries[qi] as? LetorQuery)?.qid ?? ""
            for (m, r) in rs.enumerated() {
                items.append(RewardRequestItem(queryID: ids[qi], queryKey: key, sample: m, chosen: r.chosen,
                                               candidates: r.candidates))
            }
        }
        let rewards = try source.rewards(step: step, items: items)
        guard rewards.count == items.count else {
            throw TrainingError.rewardCount(step: step, expected: items.count, got: rewards.count)
        }
        var i = 0
        for qi in drawn.indices {
            for m in drawn[qi].indices { drawn[qi][m].reward = rewards[i]; i += 1 }
        }
    }

    /// `scale · Σ_queries (1/M) Σ_m (r_m − b) ∇_φ log π₂(a_m | S_m)` with b the running
    /// baseline (from earlier steps, so the estimate stays unbiased). O(B·M·K·F).
    private func lateStageGradient(rollouts drawn: [[Rollout]], queries: [any RankingQuery], scale: Double) -> [Double] {
        guard let model = lateStageModel else { return [] }
        var grad = [Double](repeating: 0, count: model.featureCount)
        for (qi, rs) in drawn.enumerated() {
            guard let f = queries[qi] as? any LateStageFeaturized else { continue }
            for r in rs {
                let adv = r.reward - runningBaseline
                if adv == 0 { continue }
                model.accumulateLogProbabilityGradient(
                    weights: lateStageWeights, query: f, candidates: r.candidates, chosenPosition: r.chosenPosition,
                    scale: scale * adv / Double(max(rs.count, 1)), into: &grad)
            }
        }
        return grad
    }

    /// Takes `buffer` out (leaving it empty, so the array is uniquely referenced and not
    /// copied), resized to `count` and zeroed with one memset-like pass.
    private static func zeroed(_ buffer: inout [Float], count: Int) -> [Float] {
        var b: [Float] = []
        swap(&b, &buffer)
        if b.count != count { b = [Float](repeating: 0, count: count) } else {
            b.withUnsafeMutableBufferPointer { $0.update(repeating: 0) }
        }
        return b
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

    /// Evaluation on the fixed evaluation queries (sharded over ranks, sums allreduced).
    public func evaluate() -> StepMetrics.Evaluation {
        var total = EvaluationSums()
        var ndcgSum = 0.0, ndcgCount = 0.0
        let chunk = 64
        var start = 0
        while start < evalIDs.count {
            let end = min(start + chunk, evalIDs.count)
            let batch = task.forward(parameters: parameters, ids: Array(evalIDs[start..<end]), evaluation: true)
            for (i, base) in batch.queries.enumerated() {
                let row = batch.range(i).map { Double(batch.scores[$0]) }
                // A learned LSR has its own favourite (recall is measured against it).
                let q = lateStageView(base)
                let favourite = lateStageModel == nil ? evalFavourites[start + i] : estimator.sampler.lsr.favourite(query: q)
                total = total + evaluator.evaluate(scores: row, query: q, queryID: evalIDs[start + i],
                                                   favourite: favourite)
                if let v = task.ndcg(scores: row, query: base, k: config.k) { ndcgSum += v; ndcgCount += 1 }
            }
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

/// The per-query work handed to the worker threads of `Trainer.forEachQuery`, whose callers
/// guarantee that the threads write disjoint memory (hence `@unchecked Sendable`).
private final class QueryJob: @unchecked Sendable {
    let body: (Int, EstimatorWorkspace) -> Void
    let pool: [EstimatorWorkspace]
    init(body: @escaping (Int, EstimatorWorkspace) -> Void, pool: [EstimatorWorkspace]) { self.body = body; self.pool = pool }
}
