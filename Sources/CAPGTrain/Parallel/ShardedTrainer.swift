import CAPGCore
import CAPGParallel
import Foundation

/// Item-sharded (model-parallel) training of the synthetic two-tower ESR on a
/// `ProcessGrid` of P = Q × S ranks.
///
/// Rank (q, s) holds `[W | E_s | b_s]`: the query tower W (d×dx, replicated) and the rows
/// lo..<hi of the item table E and bias b of shard s (`ItemShard`), with their optimizer
/// state; query group q serves its slice of every global batch. A step (`+Step.swift`):
///
/// 1. forward: `U = X Wᵀ` for the group's queries (replicated inside the group), local
///    scores `S_s = U E_sᵀ + b_s`, in chunks of `query_chunk` queries;
/// 2. rollouts: a local Gumbel-top-K per (query, sample) with the noise of the global item
///    index, one all-gather of the `3K` candidates per shard inside the item group, an exact
///    merge (`ShardedGumbelTopK`): candidate sets, LSR picks and rewards equal the
///    single-process ones, and every rank of the group holds them;
/// 3. estimate: the estimator's sums over all N items by allreduces inside the item group
///    (threshold: one max, one sum, ~4 rounds of 5 doubles per query, with each shard's
///    hot/cold split `ThresholdShardRow`; V-PG and top-K: one max and one sum per rollout;
///    distill: none), each rank writing ∂J/∂s for its own items;
/// 4. backward: `∂E_s = Gᵀ U`, `∂b_s = Σ G`, partial `∂W` — no N×d reduction;
/// 5. reduce: ∂W summed over all P ranks; ∂E_s, ∂b_s over the Q replicas of shard s;
/// 6. update: the optimizer on the local buffer (elementwise, so shard-local Adam is exactly
///    the global Adam restricted to the shard).
///
/// Equal to the single-process trajectory up to float summation order. Memory per rank:
/// O(N/S · (d + dx)) for parameters, optimizer state and the environment's item latents
/// (other items' latents are regenerated when a candidate needs them), plus O(chunk · N/S)
/// for scores. Checkpoints stream the shards to world rank 0's writer
/// (`+Checkpoint.swift`), and the parameter fingerprint is hashed as they stream in.
public final class ShardedTrainer: TrainingEngine {
    public let config: TrainingConfig
    public let grid: ProcessGrid
    public let shard: ItemShard
    public let environment: SyntheticEnvironment
    /// The two-tower ESR restricted to the shard (its item count is n_s).
    public let esr: TwoTowerESR
    public let fullShape: TwoTowerShape
    public let estimator: PolicyGradientEstimator
    public let evaluator: PolicyEvaluator

    public internal(set) var step = 0
    /// `[W | E_s | b_s]`.
    public internal(set) var parameters: [Float]
    var optimizer: any Optimizer
    public internal(set) var runningBaseline = 0.0
    public internal(set) var randomValue = 0.0
    public internal(set) var oracleValue = 0.0
    public internal(set) var randomRecall = 0.0
    public internal(set) var replicasChecked = 0
    public var localStopRequest: () -> Bool = { false }
    public var rewardSource: (any RewardSource)? {
        didSet { precondition(rewardSource == nil, "an external scorer is not available with item_shards > 1 (validation refuses it)") }
    }
    public var exportsLocally: Bool { false }

    /// This group's evaluation query ids and their LSR favourites.
    let evalIDs: [Int]
    var evalFavourites: [Int] = []
    /// Bytes this rank sent in collectives during the last step (measured at the communicator
    /// calls as the payload it contributed).
    public internal(set) var lastStepCommBytes = 0
    /// The step's large buffers, reused across chunks and steps (`ShardedStepBuffers`).
    var stepBuffers = ShardedStepBuffers()
    public var commBytesPerStep: Int { lastStepCommBytes }

    public init(config: TrainingConfig, world: any Communicator) throws {
        try config.validate(ranks: world.size)
        guard config.data == .synthetic else {
            throw TrainingError.incompatibleState("item_shards > 1 needs data synthetic")
        }
        self.config = config
        grid = ProcessGrid(world: world, itemShards: config.itemShards)
        shard = try ItemShard(itemCount: config.items, shardCount: config.itemShards, index: grid.shard)
        environment = SyntheticEnvironment(config: config.synthetic, storedItems: shard.range)
        fullShape = config.shape
        esr = TwoTowerESR(shape: TwoTowerShape(items: shard.count, embeddingDim: config.dim, contextDim: config.contextDim))
        let lsr = LateStageRanker(temperature: config.lateStageTemperature)
        let sampler = RolloutSampler(k: config.k, lsr: lsr, reward: config.reward)
        estimator = try PolicyGradientEstimator(kind: config.estimator, inclusion: config.inclusion,
                                                baseline: config.baseline, samples: config.samples, sampler: sampler,
                                                swrCandidates: config.swrCandidates)
        evaluator = PolicyEvaluator(k: config.k, lsr: lsr, samples: config.evalSamples, seed: config.envSeed)
        parameters = Self.initialParameters(shape: fullShape, shard: shard, seed: config.seed, initScale: config.initScale)
        optimizer = config.optimizer.make(parameterCount: parameters.count, learningRate: config.lr)
        evalIDs = Array(stride(from: grid.group, to: config.evalQueries, by: grid.queryGroups))
        try computeBaselines()
    }

    /// The shard's slice of `TwoTowerESR.initialParameters` of the full shape, drawn by random
    /// access (normal number n of the `parameterInit` stream is its n-th Philox block), so the
    /// concatenation over shards is bitwise the single-process initialization. O(d·dx + n_s·d).
    static func initialParameters(shape: TwoTowerShape, shard: ItemShard, seed: UInt64, initScale: Double) -> [Float] {
        let d = shape.embeddingDim, wCount = shape.wCount
        var p = [Float](repeating: 0, count: wCount + shard.count * (d + 1))
        let key = RandomKey(seed: seed, purpose: .parameterInit)
        let sw = 1 / Double(shape.contextDim).squareRoot()
        let se = initScale / Double(d).squareRoot()
        p.withUnsafeMutableBufferPointer { b in
            let base = b.baseAddress!
            RandomStream.fillScaledNormals(key: key, first: 0, count: wCount, scale: sw, into: base)
            RandomStream.fillScaledNormals(key: key, first: wCount + shard.lo * d, count: shard.count * d, scale: se,
                                           threads: GEMM.threads, into: base + wCount)
        }
        return p
    }

    /// Offsets of the local buffer.
    var wCount: Int { fullShape.wCount }
    var eCount: Int { shard.count * config.dim }
    /// Floats of the local `[W | E_s | b_s]`.
    var localCount: Int { wCount + shard.count * (config.dim + 1) }

    /// The local buffer's slices of a full `[W | E | b]` array (a checkpoint's parameters or an
    /// optimizer buffer of the same layout). O(d·dx + n_s·d).
    func localSlice(ofFull full: [Float]) -> [Float] {
        let d = config.dim, n = config.items
        var out = Array(full[0..<wCount])
        out += full[(wCount + shard.lo * d)..<(wCount + shard.hi * d)]
        out += full[(wCount + n * d + shard.lo)..<(wCount + n * d + shard.hi)]
        return out
    }

    /// The full `[W | E | b]` array on world rank 0 from every shard's local `[W | E_s | b_s]`
    /// (query group 0 contributes; one gather of E rows and one of biases, in shard order:
    /// group 0's ranks are world ranks 0..<S). Other ranks get [].
    func gatherFull(_ local: [Float]) -> [Float] {
        let world = grid.world
        let contributes = grid.group == 0
        let e = contributes ? Array(local[wCount..<(wCount + eCount)]) : []
        let b = contributes ? Array(local[(wCount + eCount)...]) : []
        let es = world.gather(e, root: 0), bs = world.gather(b, root: 0)
        guard world.isRoot else { return [] }
        return Array(local[0..<wCount]) + es + bs
    }

    /// The whole state gathered to world rank 0 (O(N·d) there): for tools and tests; the
    /// trainer's own checkpoints stream instead (`writeCheckpoint`).
    public func exportState() -> TrainerState {
        let buffers = optimizer.stateBuffers.map { TrainerState.Buffer(name: $0.name, values: gatherFull($0.values)) }
        return TrainerState(step: step, parameters: gatherFull(parameters), optimizerKind: optimizer.kind,
                            optimizerUpdates: optimizer.updates, optimizerBuffers: buffers,
                            runningBaseline: runningBaseline, replicasChecked: replicasChecked)
    }

    public func restore(_ state: TrainerState) throws {
        let full = fullShape.parameterCount
        guard state.parameters.count == full else {
            throw TrainingError.incompatibleState("\(state.parameters.count) parameters, but items=\(config.items), dim=\(config.dim), context_dim=\(config.contextDim) need \(full)")
        }
        var buffers: [String: [Float]] = [:]
        for b in state.optimizerBuffers where b.values.count == full { buffers[b.name] = localSlice(ofFull: b.values) }
        try adopt(state, parameters: localSlice(ofFull: state.parameters), optimizerBuffers: buffers)
    }

    /// Takes `state`'s scalars with this rank's local `[W | E_s | b_s]` parameters and
    /// optimizer buffers (by name), after checking they belong to this run.
    func adopt(_ state: TrainerState, parameters local: [Float], optimizerBuffers: [String: [Float]]) throws {
        guard state.step >= 0 else { throw TrainingError.incompatibleState("negative step \(state.step)") }
        guard state.optimizerKind == config.optimizer else {
            throw TrainingError.incompatibleState("optimizer state is \(state.optimizerKind.rawValue), the run uses \(config.optimizer.rawValue)")
        }
        precondition(local.count == localCount, "a local buffer of \(local.count) floats for a shard of \(localCount)")
        let opt: any Optimizer
        do {
            opt = try config.optimizer.restored(parameterCount: localCount, learningRate: config.lr,
                                                updates: state.optimizerUpdates, buffers: optimizerBuffers)
        } catch {
            throw TrainingError.incompatibleState("\(error)")
        }
        step = state.step
        parameters = local
        optimizer = opt
        runningBaseline = state.runningBaseline
        replicasChecked = state.replicasChecked
    }

    /// Every replica of a shard holds bitwise the same `[W | E_s | b_s]`, and every shard of a
    /// group the same W: fingerprints max-reduced with their negations (as `Trainer`).
    public func checkReplicas() throws {
        func agree(_ values: [Float], _ comm: any Communicator) -> Bool {
            let digest = SHA256.hex(floats: values)
            let a = Double(UInt32(digest.prefix(8), radix: 16)!), b = Double(UInt32(digest.dropFirst(8).prefix(8), radix: 16)!)
            var buf = [a, b, -a, -b]
            comm.allreduceMax(&buf)
            return buf[0] == -buf[2] && buf[1] == -buf[3]
        }
        let replicasAgree = agree(parameters, grid.replicas)
        let towersAgree = agree(Array(parameters[0..<wCount]), grid.items)
        var both = [replicasAgree && towersAgree ? 0.0 : 1.0]
        grid.world.allreduceMax(&both)
        if both[0] != 0 { throw TrainingError.replicasDiverged(step: step) }
        replicasChecked += 1
    }
}
