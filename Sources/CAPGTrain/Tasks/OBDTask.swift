import CAPGCore

/// The Open Bandit Dataset as a semi-synthetic environment: contexts are real logged users
/// (their one-hot user features), the universe is the campaign's items, and the expected
/// reward is a click model fitted on the training part of the log (`OBDClickModel`); the LSR
/// ranks by that click probability plus noise. The ESR is the two-tower model with the user
/// features as its context vector.
///
/// Rows `[0, ⌊f·rows⌋)` fit the click model and are the training queries; the rest are held
/// out for evaluation. Query id = row; rank r serves the rows of the global batch with
/// `row mod P = r` (the log is small, so every rank holds it; the rule keeps the union over
/// ranks independent of P).
public final class OBDTask: TrainingTask {
    public let config: TrainingConfig
    public let environment: OBDEnvironment
    public let esr: TwoTowerESR
    public let trainRows: Range<Int>
    public let testRows: Range<Int>

    public init(config: TrainingConfig, environment: OBDEnvironment, trainRows: Range<Int>, testRows: Range<Int>) {
        precondition(config.items == environment.log.itemCount && config.contextDim == environment.log.userFeatureCount,
                     "config items/context_dim must be set from the OBD log")
        self.config = config; self.environment = environment
        self.trainRows = trainRows; self.testRows = testRows
        esr = TwoTowerESR(shape: config.shape)
    }

    public var tensors: [ParameterTensor] { config.esrParameterTensors }

    public func initialParameters() -> [Float] { esr.initialParameters(seed: config.seed, initScale: config.initScale) }

    public func localBatch(step: Int, rank: Int, size: Int) -> [Int] {
        let b = config.batchSize
        return (0..<b).map { trainRows.lowerBound + (step * b + $0) % trainRows.count }.filter { $0 % size == rank }
    }

    public func evaluationIDs(rank: Int, size: Int) -> [Int] {
        let n = min(config.evalQueries, testRows.count)
        return (0..<n).map { testRows.lowerBound + $0 }.filter { $0 % size == rank }
    }

    public func context(row: Int) -> [Double] {
        let u = environment.log.userFeatureCount
        return (0..<u).map { Double(environment.log.userFeatures[row * u + $0]) }
    }

    public func queries(ids: [Int], evaluation: Bool) -> [any RankingQuery] {
        ids.map { environment.query(row: $0, evaluation: evaluation) }
    }

    public func forward(parameters: [Float], ids: [Int], evaluation: Bool) -> ScoredBatch {
        var fresh: [Float] = []
        return forward(parameters: parameters, ids: ids, evaluation: evaluation, recycling: &fresh)
    }

    public func forward(parameters: [Float], ids: [Int], evaluation: Bool, recycling: inout [Float]) -> ScoredBatch {
        let queries = self.queries(ids: ids, evaluation: evaluation)
        return TwoTowerForward.run(esr: esr, parameters: parameters, ids: ids, queries: queries,
                                   contexts: ids.map { context(row: $0) }, recycling: &recycling)
    }

    public func backward(parameters: [Float], batch: ScoredBatch, scoreGradient: [Float], into gradient: inout [Float]) {
        TwoTowerForward.backward(esr: esr, parameters: parameters, batch: batch, scoreGradient: scoreGradient, into: &gradient)
    }
}
