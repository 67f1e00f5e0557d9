import CAPGCore

/// The paper's simulated world (`PaperWorld`) with capg's two-tower ESR over the user
/// embedding (DESIGN §1; docs/paper.md). Batching as `SyntheticTask`: the global batch of
/// step t is query ids `(t·B + j) mod Q`, rank r owns the contiguous slice of B/P, and
/// query id q is user `q mod U`. Evaluation ids 0..<eval_queries are users 0..<eval_queries
/// (all of them once eval_queries ≥ U; an id past U repeats a user).
public final class PaperTask: TrainingTask {
    public let config: TrainingConfig
    public let world: PaperWorld
    public let esr: TwoTowerESR

    public init(config: TrainingConfig) {
        self.config = config
        world = PaperWorld(config: config.paperWorld)
        esr = TwoTowerESR(shape: config.shape)
    }

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
        ids.map { world.query(id: $0, evaluation: evaluation) }
    }

    public func forward(parameters: [Float], ids: [Int], evaluation: Bool) -> ScoredBatch {
        var fresh: [Float] = []
        return forward(parameters: parameters, ids: ids, evaluation: evaluation, recycling: &fresh)
    }

    public func forward(parameters: [Float], ids: [Int], evaluation: Bool, recycling: inout [Float]) -> ScoredBatch {
        let queries = ids.map { world.query(id: $0, evaluation: evaluation) }
        return TwoTowerForward.run(esr: esr, parameters: parameters, ids: ids, queries: queries,
                                   contexts: queries.map(\.context), recycling: &recycling)
    }

    public func backward(parameters: [Float], batch: ScoredBatch, scoreGradient: [Float], into gradient: inout [Float]) {
        TwoTowerForward.backward(esr: esr, parameters: parameters, batch: batch, scoreGradient: scoreGradient, into: &gradient)
    }
}
