/// Run totals carried across job segments (a segment ends at a stop signal, a crash or the
/// last step), so that a resumed run's summary covers the whole run, and the last
/// evaluation is known from the first resumed step on.
public struct RunProgress: Sendable, Equatable {
    public var computeSeconds = 0.0
    public var allreduceSeconds = 0.0
    public var optimizerSeconds = 0.0
    public var ioSeconds = 0.0
    public var wallSeconds = 0.0
    public var meanRewardLast = 0.0
    /// The most recent evaluation and the step after which it ran.
    public var lastEvaluation: StepMetrics.Evaluation?
    public var lastEvaluationStep = 0
    /// Job segments that produced this state (1 + number of resumes).
    public var segments = 1

    public init() {}
}

/// What a checkpoint holds: the resolved config, the trainer state and the run totals.
/// Produced by `TrainingRun` on rank 0, written by a `CheckpointSink`, and read back (on
/// every rank) to resume.
public struct TrainingSnapshot: Sendable, Equatable {
    public var config: TrainingConfig
    /// Ranks of the job that wrote it (informational; resume works at any rank count).
    public var ranks: Int
    public var state: TrainerState
    public var progress: RunProgress
    /// Data-derived tensors needed to use the model (`TrainingConfig.dataTensorShapes`, e.g.
    /// LETOR's feature standardization), in that order; empty for tasks without any.
    public var dataTensors: [TrainerState.Buffer]

    public init(config: TrainingConfig, ranks: Int, state: TrainerState, progress: RunProgress,
                dataTensors: [TrainerState.Buffer] = []) {
        self.config = config; self.ranks = ranks; self.state = state; self.progress = progress
        self.dataTensors = dataTensors
    }
}

/// What writing one checkpoint cost.
public struct CheckpointWriteReport: Sendable {
    public var path: String
    public var bytes: Int
    public var seconds: Double
    public init(path: String, bytes: Int, seconds: Double) { self.path = path; self.bytes = bytes; self.seconds = seconds }
    /// Write throughput in MB/s (10⁶ bytes), including fsync and rename.
    public var megabytesPerSecond: Double { seconds > 0 ? Double(bytes) / 1e6 / seconds : 0 }
}

/// Where `TrainingRun` sends checkpoints (on rank 0 only; parameters are replicated). The
/// file format lives in CAPGCheckpoint; this protocol keeps the trainer independent of it.
public protocol CheckpointSink: AnyObject {
    func write(_ snapshot: TrainingSnapshot) throws -> CheckpointWriteReport
    /// Writes a checkpoint whose tensors (all of them, in file order) are produced piece by
    /// piece while the file is written (`snapshot.state` carries the scalars only): how the
    /// item-sharded trainer writes a whole-model checkpoint without holding the model on one
    /// rank.
    func write(_ snapshot: TrainingSnapshot, streamed: [StreamedTensor]) throws -> CheckpointWriteReport
    /// The item-sharded write in parallel: called on each of the S ranks that together hold
    /// one copy of the model (`parts.owners`, rank = shard index), each writing its own
    /// pieces into the one checkpoint file; rank 0's `snapshot` gives the header (the
    /// others' is ignored). `written` is false on every rank, and nothing was written, when
    /// the ranks cannot all open the file (no shared file system): the caller then streams
    /// instead. Rank 0 gets the report.
    func write(_ snapshot: TrainingSnapshot, parts: ShardedCheckpointParts) throws -> (written: Bool, report: CheckpointWriteReport?)
}

extension CheckpointSink {
    public func write(_ snapshot: TrainingSnapshot, streamed: [StreamedTensor]) throws -> CheckpointWriteReport {
        throw TrainingError.io("this checkpoint sink cannot write streamed tensors")
    }
    public func write(_ snapshot: TrainingSnapshot, parts: ShardedCheckpointParts) throws -> (written: Bool, report: CheckpointWriteReport?) {
        (false, nil)
    }
}

/// What one rank of an item-sharded model holds of a checkpoint's tensors: every tensor
/// (in file order) with its offset in the full `[W | E | b]` layout and this rank's local
/// `[W | E_s | b_s]` buffer, and the map from a full-layout range to the shards that own it.
public struct ShardedCheckpointParts {
    public struct Tensor {
        public var name: String
        public var shape: [Int]
        /// Offset of the tensor in the full `[W | E | b]` layout.
        public var offset: Int
        /// This rank's `[W | E_s | b_s]`-shaped buffer the tensor's owned part is read from.
        public var local: [Float]
        public init(name: String, shape: [Int], offset: Int, local: [Float]) {
            self.name = name; self.shape = shape; self.offset = offset; self.local = local
        }
        public var count: Int { shape.reduce(1, *) }
    }
    /// A piece of the full layout: `range` relative to the asked start, its owner shard and
    /// the piece's offset in the owner's local buffer.
    public struct Segment {
        public var range: Range<Int>
        public var owner: Int
        public var localOffset: Int
        public init(range: Range<Int>, owner: Int, localOffset: Int) { self.range = range; self.owner = owner; self.localOffset = localOffset }
    }
    public var tensors: [Tensor]
    /// The S ranks holding one copy of the model; rank s holds shard s.
    public var owners: any Communicator
    /// The segments of the full-layout range `[from, from + count)`, in order.
    public var segments: (_ from: Int, _ count: Int) -> [Segment]

    public init(tensors: [Tensor], owners: any Communicator, segments: @escaping (_ from: Int, _ count: Int) -> [Segment]) {
        self.tensors = tensors; self.owners = owners; self.segments = segments
    }
}

/// A checkpoint tensor whose floats are fetched in consecutive pieces: `fetch(start, count)`
/// is called with start = 0, then the end of the previous piece, until `count` floats
/// were delivered.
public struct StreamedTensor {
    public var name: String
    public var shape: [Int]
    public var fetch: (_ start: Int, _ count: Int) throws -> [Float]
    public init(name: String, shape: [Int], fetch: @escaping (_ start: Int, _ count: Int) throws -> [Float]) {
        self.name = name; self.shape = shape; self.fetch = fetch
    }
    public var count: Int { shape.reduce(1, *) }
}

/// The tensors of a verified checkpoint read back chunk by chunk (the mirror of
/// `StreamedTensor`): how the item-sharded trainer resumes without any rank holding the
/// whole model. Every rank gets the chunk size, so senders and receivers cut the same
/// pieces; world rank 0 alone reads the file.
public struct CheckpointTensorStream {
    /// Floats per chunk of the file (the last chunk of a tensor may be shorter).
    public var chunkFloats: Int
    /// World rank 0: visits every chunk of the file in order as `(tensor index, float offset
    /// in the tensor, values)`, each chunk checked again against its CRC32C. Nil elsewhere.
    public var forEachChunk: ((_ visit: (Int, Int, UnsafeBufferPointer<Float>) throws -> Void) throws -> Void)?

    public init(chunkFloats: Int, forEachChunk: ((_ visit: (Int, Int, UnsafeBufferPointer<Float>) throws -> Void) throws -> Void)?) {
        self.chunkFloats = chunkFloats; self.forEachChunk = forEachChunk
    }
}
