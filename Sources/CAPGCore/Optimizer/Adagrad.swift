/// Adagrad (Duchi et al. 2011) for ascent, as the paper trains its ESR:
///
///   G ← G + g²,   θ ← θ + η · g / (√G + ε),
///
/// elementwise, with the accumulator starting at 0 and ε = 1e-10 (PyTorch's defaults). The
/// step of a coordinate shrinks as its squared gradients pile up, so the effective
/// learning rate is the paper's η over the root of the gradient's running energy — unlike
/// Adam, a gradient's overall scale is *not* undone after the first step (η·g/|g| = η at
/// step 1, then smaller). O(P) time, P floats of state (`adagrad.g2`).
public struct Adagrad: Optimizer {
    public var learningRate: Double
    public var epsilon: Double = 1e-10
    public var updates = 0
    /// The squared-gradient accumulator G.
    public private(set) var g2: [Float]
    public var kind: OptimizerKind { .adagrad }

    public init(parameterCount: Int, learningRate: Double) {
        self.learningRate = learningRate
        g2 = ParallelZeros.floats(parameterCount, threads: GEMM.threads)
    }

    /// Continues from a checkpointed accumulator (`parameterCount` long) without allocating
    /// the zeros `init(parameterCount:)` would.
    public init(restoring buffers: [String: [Float]], parameterCount: Int, updates: Int, learningRate: Double) throws {
        guard let b = buffers["adagrad.g2"], b.count == parameterCount else {
            throw OptimizerError.missingState("adagrad.g2", expectedCount: parameterCount)
        }
        self.learningRate = learningRate
        g2 = b; self.updates = updates
    }

    public var stateBuffers: [(name: String, values: [Float])] { [("adagrad.g2", g2)] }

    public mutating func restore(updates: Int, buffers: [String: [Float]]) throws {
        guard let b = buffers["adagrad.g2"], b.count == g2.count else {
            throw OptimizerError.missingState("adagrad.g2", expectedCount: g2.count)
        }
        g2 = b; self.updates = updates
    }

    public mutating func ascend(parameters: inout [Float], gradient: [Float]) {
        precondition(parameters.count == gradient.count && g2.count == gradient.count)
        updates += 1
        let lr = Float(learningRate), eps = Float(epsilon)
        g2.withUnsafeMutableBufferPointer { acc in
            parameters.withUnsafeMutableBufferPointer { p in
                gradient.withUnsafeBufferPointer { g in
                    for i in 0..<p.count {
                        let gi = g[i]
                        acc[i] += gi * gi
                        p[i] += lr * gi / (acc[i].squareRoot() + eps)
                    }
                }
            }
        }
    }
}
