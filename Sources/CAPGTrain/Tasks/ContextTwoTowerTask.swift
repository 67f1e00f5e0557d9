import CAPGCore

/// A task whose queries are generated context vectors over one fixed item universe, scored
/// by the two-tower ESR: the synthetic environment and the paper's world. Conformers supply
/// the config, the ESR and how a query id becomes a query with its context; batching,
/// evaluation ids and the forward/backward passes are shared (below).
///
/// Batching: the global batch of step t is query ids `(t·B + j) mod Q`, j < B, and rank r
/// owns the contiguous slice `j ∈ [r·B/P, (r+1)·B/P)` (B divisible by P); contexts are
/// generated from the id, so a rank materializes only its own queries. Evaluation ids are
/// `r, r + P, …` below `eval_queries`.
public protocol ContextTwoTowerTask: TrainingTask {
    var config: TrainingConfig { get }
    var esr: TwoTowerESR { get }
    /// Query `id` of the training or evaluation set, and its context (the ESR's input).
    func contextQuery(id: Int, evaluation: Bool) -> (query: any RankingQuery, context: [Double])
}

extension ContextTwoTowerTask {
    public var tensors: [ParameterTensor] { config.esrParameterTensors }

    public func initialParameters() -> [Float] { esr.initialParameters(seed: config.seed, initScale: config.initScale) }

    public func localBatch(step: Int, rank: Int, size: Int) -> [Int] {
        let b = config.batchSize, per = b / size
        return (rank * per..<(rank + 1) * per).map { (step * b + $0) % config.queries }
    }

    public func evaluationIDs(rank: Int, size: Int) -> [Int] {
        Array(stride(from: rank, to: config.evalQueries, by: size))
    }

    public func queries(ids: [Int], evaluation: Bool) -> [any RankingQuery] {
        ids.map { contextQuery(id: $0, evaluation: evaluation).query }
    }

    public func forward(parameters: [Float], ids: [Int], evaluation: Bool) -> ScoredBatch {
        var fresh: [Float] = []
        return forward(parameters: parameters, ids: ids, evaluation: evaluation, recycling: &fresh)
    }

    public func forward(parameters: [Float], ids: [Int], evaluation: Bool, recycling: inout [Float]) -> ScoredBatch {
        let made = ids.map { contextQuery(id: $0, evaluation: evaluation) }
        return TwoTowerForward.run(esr: esr, parameters: parameters, ids: ids, queries: made.map(\.query),
                                   contexts: made.map(\.context), recycling: &recycling)
    }

    public func backward(parameters: [Float], batch: ScoredBatch, scoreGradient: [Float], into gradient: inout [Float]) {
        TwoTowerForward.backward(esr: esr, parameters: parameters, batch: batch, scoreGradient: scoreGradient, into: &gradient)
    }
}
