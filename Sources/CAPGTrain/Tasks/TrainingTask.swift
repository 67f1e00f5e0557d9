import CAPGCore

/// A named tensor of the flat parameter buffer (for checkpoints and inspection).
public struct ParameterTensor: Sendable, Equatable {
    public var name: String
    public var offset: Int
    public var shape: [Int]
    public init(name: String, offset: Int, shape: [Int]) { self.name = name; self.offset = offset; self.shape = shape }
}

/// The ESR's scores for a local batch of queries: row r (query `ids[r]`) spans
/// `scores[offsets[r]..<offsets[r+1]]`, so universes of different sizes (LETOR queries)
/// share one flat buffer. `saved` holds what the backward pass needs (task-specific).
public struct ScoredBatch {
    public var ids: [Int]
    public var queries: [any RankingQuery]
    public var offsets: [Int]
    public var scores: [Float]
    public var saved: [Float]

    public init(ids: [Int], queries: [any RankingQuery], offsets: [Int], scores: [Float], saved: [Float]) {
        self.ids = ids; self.queries = queries; self.offsets = offsets; self.scores = scores; self.saved = saved
    }

    public var count: Int { ids.count }
    public func range(_ r: Int) -> Range<Int> { offsets[r]..<offsets[r + 1] }
}

/// What the trainer trains on: a source of queries and an ESR over a flat parameter buffer.
/// The trainer itself only sees score rows, so the estimators, the evaluation and the
/// distributed step are the same for synthetic contexts, LETOR queries and logged users.
public protocol TrainingTask: AnyObject {
    /// Parameter tensors, in buffer order (determined by the configuration alone).
    var tensors: [ParameterTensor] { get }
    /// Initial parameters (identical on every rank: drawn from the `parameterInit` stream).
    func initialParameters() -> [Float]
    /// The ids of this rank's queries in the global batch of `step` (the set over all ranks
    /// is the same for every rank count).
    func localBatch(step: Int, rank: Int, size: Int) -> [Int]
    /// Ids of this rank's evaluation queries.
    func evaluationIDs(rank: Int, size: Int) -> [Int]
    /// The queries `ids` (training or evaluation set), without scoring them.
    func queries(ids: [Int], evaluation: Bool) -> [any RankingQuery]
    /// ESR forward pass over queries `ids` (training or evaluation set).
    func forward(parameters: [Float], ids: [Int], evaluation: Bool) -> ScoredBatch
    /// The same, writing the scores into `recycling`'s storage when it has the right size
    /// (the trainer hands back the previous step's score array, so a step does not allocate
    /// and page-fault B×N floats anew; `recycling` is left empty).
    func forward(parameters: [Float], ids: [Int], evaluation: Bool, recycling: inout [Float]) -> ScoredBatch
    /// Adds `∂J/∂θ` to `gradient` given `∂J/∂s` laid out like `batch.scores`.
    func backward(parameters: [Float], batch: ScoredBatch, scoreGradient: [Float], into gradient: inout [Float])
    /// NDCG@k of the ESR's deterministic ranking for tasks with graded labels (nil otherwise).
    func ndcg(scores: [Double], query: any RankingQuery, k: Int) -> Double?
    /// Data-derived tensors the model needs besides its parameters, named and shaped as
    /// `TrainingConfig.dataTensorShapes` says (checkpoints store them).
    var dataTensors: [TrainerState.Buffer] { get }
}

extension TrainingTask {
    public var parameterCount: Int { tensors.reduce(0) { $0 + $1.shape.reduce(1, *) } }

    /// Tasks without a recycling forward allocate (the buffer is dropped).
    public func forward(parameters: [Float], ids: [Int], evaluation: Bool, recycling: inout [Float]) -> ScoredBatch {
        recycling = []
        return forward(parameters: parameters, ids: ids, evaluation: evaluation)
    }

    /// No data-derived tensors.
    public var dataTensors: [TrainerState.Buffer] { [] }

    /// No graded labels: no NDCG.
    public func ndcg(scores: [Double], query: any RankingQuery, k: Int) -> Double? { nil }
}


/// The task of an embedded generator, which needs no data files: the paper world for
/// `data = paper`, else the synthetic environment (file-backed tasks come from `TaskLoader`).
public func embeddedTask(config: TrainingConfig) -> any TrainingTask {
    config.data == .paper ? PaperTask(config: config) : SyntheticTask(config: config)
}
