import CAPGCore

/// The paper's simulated world (`PaperWorld`) with capg's two-tower ESR over the user
/// embedding (DESIGN §1; docs/paper.md). Batching, evaluation ids and the passes are
/// `ContextTwoTowerTask`'s; query id q is user `q mod U`. Evaluation ids 0..<eval_queries are users 0..<eval_queries
/// (all of them once eval_queries ≥ U; an id past U repeats a user).
public final class PaperTask: ContextTwoTowerTask {
    public let config: TrainingConfig
    public let world: PaperWorld
    public let esr: TwoTowerESR

    public init(config: TrainingConfig) {
        self.config = config
        world = PaperWorld(config: config.paperWorld)
        esr = TwoTowerESR(shape: config.shape)
    }

    public func contextQuery(id: Int, evaluation: Bool) -> (query: any RankingQuery, context: [Double]) {
        let q = world.query(id: id, evaluation: evaluation)
        return (q, q.context)
    }
}
