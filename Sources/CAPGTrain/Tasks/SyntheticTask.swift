import CAPGCore

/// The embedded synthetic environment with the two-tower ESR (DESIGN §1, §5); batching,
/// evaluation ids and the passes are `ContextTwoTowerTask`'s.
public final class SyntheticTask: ContextTwoTowerTask {
    public let config: TrainingConfig
    public let environment: SyntheticEnvironment
    public let esr: TwoTowerESR

    public init(config: TrainingConfig) {
        self.config = config
        environment = SyntheticEnvironment(config: config.synthetic)
        esr = TwoTowerESR(shape: config.shape)
    }

    public func contextQuery(id: Int, evaluation: Bool) -> (query: any RankingQuery, context: [Double]) {
        let q = environment.query(id: id, evaluation: evaluation)
        return (q, q.context)
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
