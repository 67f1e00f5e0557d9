/// What `TrainingRun` drives: the data-parallel `Trainer` (every rank holds every parameter)
/// or the item-sharded `ShardedTrainer` (a 2-D grid; each rank holds its item shard).
///
/// Collective members (every rank must call them together): `trainStep`, `evaluate`,
/// `exportState` (the sharded engine gathers the full state to world rank 0) and
/// `parameterFingerprint`.
public protocol TrainingEngine: AnyObject {
    var step: Int { get }
    var randomValue: Double { get }
    var oracleValue: Double { get }
    var replicasChecked: Int { get }
    /// Polled once per step: true when this rank was asked to stop.
    var localStopRequest: () -> Bool { get set }
    /// Where training rewards come from when not from the environment.
    var rewardSource: (any RewardSource)? { get set }
    /// True when `exportState` is local (so rank 0 alone may call it, e.g. on an error path).
    var exportsLocally: Bool { get }
    func trainStep() throws -> StepMetrics
    func evaluate() -> StepMetrics.Evaluation
    /// The whole state on world rank 0 (other ranks: a state with empty buffers, sharded only).
    func exportState() -> TrainerState
    /// Continues from `state` (the whole state, on every rank).
    func restore(_ state: TrainerState) throws
    /// Continues from the scalars of `state` (its tensors empty) and tensors that stream from
    /// world rank 0 (all ranks call it): the item-sharded resume. Engines that hold the whole
    /// state on every rank do not offer it.
    func restore(_ state: TrainerState, streamed: CheckpointTensorStream) throws
    /// SHA-256 (hex) of the flat parameter bytes in checkpoint order, on world rank 0.
    func parameterFingerprint() -> String
    /// Bytes this rank contributed to collectives in its last step.
    var commBytesPerStep: Int { get }
    /// Writes a checkpoint of the current state through `sink` (present on world rank 0
    /// only); collective for the sharded engine. Returns rank 0's report.
    func writeCheckpoint(_ sink: (any CheckpointSink)?, snapshot: (TrainerState) -> TrainingSnapshot) throws
        -> CheckpointWriteReport?
}

extension Trainer: TrainingEngine {
    public var exportsLocally: Bool { true }
    public func restore(_ state: TrainerState, streamed: CheckpointTensorStream) throws {
        throw TrainingError.incompatibleState("the data-parallel trainer resumes from the whole state (item_shards = 1)")
    }
    /// Rank 0 holds the whole state: it writes alone.
    public func writeCheckpoint(_ sink: (any CheckpointSink)?, snapshot: (TrainerState) -> TrainingSnapshot) throws
        -> CheckpointWriteReport?
    {
        guard let sink else { return nil }
        return try sink.write(snapshot(exportState()))
    }
    /// The gradient allreduce (4 bytes per parameter) and the metric allreduce (8 bytes per
    /// sum), when there is more than one rank.
    public var commBytesPerStep: Int { communicator.size > 1 ? 4 * parameters.count + 8 * (3 + lateStageWeights.count) : 0 }
    public func parameterFingerprint() -> String {
        SHA256.hex(floats: parameters)  // the ESR's parameters (as summary.json always reported)
    }
}
