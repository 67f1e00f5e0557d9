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

    /// Reused Double rows of the Float-row estimator call (no allocation per query).
    let workspace = EstimatorWorkspace()

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

        let ids = task.evaluationIDs(rank: communicator.rank, size: communicator.size)
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

    /// One training step; returns the step's metrics (identical on every rank).
    public func trainStep() throws -> StepMetrics {
        let t0 = Date()
        let ids = localQueryIDs(step: step)
        let batch = task.forward(parameters: parameters, ids: ids, evaluation: false)
        var g = Self.zeroed(&scoreGradientBuffer, count: batch.scores.count)
        defer { scoreGradientBuffer = g }
        var rewardSum = 0.0, sampleCount = 0.0, bad = -1
        let scale = 1 / Double(config.batchSize)
        g.withUnsafeMutableBufferPointer { gb in
            batch.scores.withUnsafeBufferPointer { sb in
                for (qi, q) in batch.queries.enumerated() {
                    let range = batch.range(qi)
                    let st = estimator.accumulate(
                        scores: UnsafeBufferPointer(rebasing: sb[range]), query: q, seed: config.seed, step: step,
                        queryID: ids[qi], runningBaseline: runningBaseline, scale: scale,
                        into: UnsafeMutableBufferPointer(rebasing: gb[range]), workspace: workspace)
                    rewardSum += st.rewardSum; sampleCount += Double(st.samples)
                    if st.nonFinite { bad = ids[qi] }
                }
            }
        }
        if let f = config.failure, f.rank == communicator.rank, f.step == step {
            if !f.nan { throw TrainingError.injected(rank: f.rank, step: step) }
            if !g.isEmpty { g[0] = .nan; bad = ids[0] }
        }
        if bad >= 0 {
            throw TrainingError.nonFiniteGradient(rank: communicator.rank, step: step, query: bad)
        }
        var gradient = Self.zeroed(&gradientBuffer, count: parameters.count)
        defer { gradientBuffer = gradient }
        task.backward(parameters: parameters, batch: batch, scoreGradient: g, into: &gradient)
        let t1 = Date()
        communicator.allreduceSum(&gradient)
        var sums = [rewardSum, sampleCount, localStopRequest() ? 1 : 0]
        communicator.allreduceSum(&sums)
        let t2 = Date()
        var norm2 = 0.0
        for v in gradient { norm2 += Double(v) * Double(v) }
        optimizer.ascend(parameters: &parameters, gradient: gradient)
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

    /// The state that determines every later step (see `TrainerState`). O(1): the arrays
    /// are shared copy-on-write until the next step mutates them.
    public func exportState() -> TrainerState {
        TrainerState(step: step, parameters: parameters, optimizerKind: optimizer.kind,
                     optimizerUpdates: optimizer.updates,
                     optimizerBuffers: optimizer.stateBuffers.map { TrainerState.Buffer(name: $0.name, values: $0.values) },
                     runningBaseline: runningBaseline, replicasChecked: replicasChecked)
    }

    /// Continues from `state` (e.g. a checkpoint written by a run of the same config at any
    /// rank count). Throws, changing nothing, when the state does not fit this trainer.
    public func restore(_ state: TrainerState) throws {
        let p = parameters.count
        guard state.step >= 0 else { throw TrainingError.incompatibleState("negative step \(state.step)") }
        guard state.parameters.count == p else {
            throw TrainingError.incompatibleState("\(state.parameters.count) parameters, but items=\(config.items), dim=\(config.dim), context_dim=\(config.contextDim) need \(p)")
        }
        guard state.optimizerKind == config.optimizer else {
            throw TrainingError.incompatibleState("optimizer state is \(state.optimizerKind.rawValue), the run uses \(config.optimizer.rawValue)")
        }
        var opt = config.optimizer.make(parameterCount: p, learningRate: config.lr)
        do {
            try opt.restore(updates: state.optimizerUpdates,
                            buffers: Dictionary(state.optimizerBuffers.map { ($0.name, $0.values) }, uniquingKeysWith: { a, _ in a }))
        } catch {
            throw TrainingError.incompatibleState("\(error)")
        }
        step = state.step
        parameters = state.parameters
        optimizer = opt
        runningBaseline = state.runningBaseline
        replicasChecked = state.replicasChecked
    }

    /// Verifies that every rank holds bitwise the same parameters: the first 8 bytes of the
    /// SHA-256 of the parameter bytes, as two 32-bit halves, are max-reduced together with
    /// their negations (one allreduce): all ranks agree iff max = −max(−x) = min.
    public func checkReplicas() throws {
        let digest = SHA256.hex(floats: parameters)
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
            for (i, q) in batch.queries.enumerated() {
                let row = batch.range(i).map { Double(batch.scores[$0]) }
                total = total + evaluator.evaluate(scores: row, query: q, queryID: evalIDs[start + i],
                                                   favourite: evalFavourites[start + i])
                if let v = task.ndcg(scores: row, query: q, k: config.k) { ndcgSum += v; ndcgCount += 1 }
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
