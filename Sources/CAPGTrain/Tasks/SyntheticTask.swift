import CAPGCore

/// The embedded synthetic environment with the two-tower ESR (DESIGN §1, §5).
///
/// Batching: the global batch of step t is query ids `(t·B + j) mod Q`, j < B, and rank r
/// owns the contiguous slice `j ∈ [r·B/P, (r+1)·B/P)` (B divisible by P); contexts are
/// generated from the id, so a rank materializes only its own queries.
public final class SyntheticTask: TrainingTask {
    public let config: TrainingConfig
    public let environment: SyntheticEnvironment
    public let esr: TwoTowerESR

    public init(config: TrainingConfig) {
        self.config = config
        environment = SyntheticEnvironment(config: config.synthetic)
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
        ids.map { environment.query(id: $0, evaluation: evaluation) }
    }

    public func forward(parameters: [Float], ids: [Int], evaluation: Bool) -> ScoredBatch {
        var fresh: [Float] = []
        return forward(parameters: parameters, ids: ids, evaluation: evaluation, recycling: &fresh)
    }

    public func forward(parameters: [Float], ids: [Int], evaluation: Bool, recycling: inout [Float]) -> ScoredBatch {
        let queries = ids.map { environment.query(id: $0, evaluation: evaluation) }
        return TwoTowerForward.run(esr: esr, parameters: parameters, ids: ids, queries: queries,
                                   contexts: queries.map(\.context), recycling: &recycling)
    }

    public func backward(parameters: [Float], batch: ScoredBatch, scoreGradient: [Float], into gradient: inout [Float]) {
        TwoTowerForward.backward(esr: esr, parameters: parameters, batch: batch, scoreGradient: scoreGradient, into: &gradient)
    }
}

/// The two-tower forward/backward over a batch of contexts, shared by every task whose
/// queries are context vectors over one fixed item universe (synthetic, logged users).
/// `saved` holds `[X (B×dx) | U (B×d)]` for the backward GEMMs.
public enum TwoTowerForward {
    /// `recycling`: a previous score array reused when it holds exactly B×N floats (the
    /// GEMM overwrites it, so it is not zeroed); left empty.
    public static func run(esr: TwoTowerESR, parameters: [Float], ids: [Int], queries: [any RankingQuery],
                           contexts: [[Double]], recycling: inout [Float]) -> ScoredBatch {
        let b = ids.count, n = esr.shape.items, d = esr.shape.embeddingDim, dx = esr.shape.contextDim
        var saved = [Float](repeating: 0, count: b * (dx + d))
        for (r, x) in contexts.enumerated() {
            precondition(x.count == dx, "context of query \(ids[r]) has \(x.count) values, the ESR expects \(dx)")
            for j in 0..<dx { saved[r * dx + j] = Float(x[j]) }
        }
        var scores: [Float] = []
        swap(&scores, &recycling)
        if scores.count != b * n { scores = [Float](repeating: 0, count: b * n) }
        parameters.withUnsafeBufferPointer { p in
            saved.withUnsafeMutableBufferPointer { sv in
                let xb = UnsafeBufferPointer(rebasing: sv[0..<b * dx])
                let ub = UnsafeMutableBufferPointer(rebasing: sv[b * dx..<b * (dx + d)])
                scores.withUnsafeMutableBufferPointer { sb in
                    esr.forward(parameters: p, contexts: xb, batch: b, user: ub, scores: sb)
                }
            }
        }
        return ScoredBatch(ids: ids, queries: queries, offsets: (0...b).map { $0 * n }, scores: scores, saved: saved)
    }

    public static func backward(esr: TwoTowerESR, parameters: [Float], batch: ScoredBatch, scoreGradient: [Float],
                                into gradient: inout [Float]) {
        let b = batch.count, d = esr.shape.embeddingDim, dx = esr.shape.contextDim
        guard b > 0 else { return }
        var scratch = [Float](repeating: 0, count: b * d)
        parameters.withUnsafeBufferPointer { p in
            batch.saved.withUnsafeBufferPointer { sv in
                scoreGradient.withUnsafeBufferPointer { gb in
                    gradient.withUnsafeMutableBufferPointer { out in
                        scratch.withUnsafeMutableBufferPointer { sc in
                            esr.backward(parameters: p, contexts: UnsafeBufferPointer(rebasing: sv[0..<b * dx]),
                                         user: UnsafeBufferPointer(rebasing: sv[b * dx..<b * (dx + d)]),
                                         scoreGradient: gb, batch: b, gradient: out, scratch: sc)
                        }
                    }
                }
            }
        }
    }
}
