import CVectorMath
import Foundation

/// Adam (Kingma & Ba 2015) for ascent:
///
///   m ← β₁m + (1−β₁)g,  v ← β₂v + (1−β₂)g²,  θ ← θ + η · m̂ / (√v̂ + ε),
///
/// with bias corrections `m̂ = m/(1−β₁ᵗ)`, `v̂ = v/(1−β₂ᵗ)`. O(P) time, 2P floats of state;
/// one vectorized streaming pass, on the rank's threads (`capg_adam_ascend_f32`).
public struct Adam: Optimizer {
    public var learningRate: Double
    public var beta1: Double = 0.9
    public var beta2: Double = 0.999
    public var epsilon: Double = 1e-8
    public var updates = 0
    public private(set) var m: [Float]
    public private(set) var v: [Float]
    public var kind: OptimizerKind { .adam }

    public init(parameterCount: Int, learningRate: Double) {
        self.learningRate = learningRate
        m = ParallelZeros.floats(parameterCount, threads: GEMM.threads)
        v = ParallelZeros.floats(parameterCount, threads: GEMM.threads)
    }

    /// Continues from checkpointed moments (each `parameterCount` long) without allocating
    /// the zero moments `init(parameterCount:)` would (2P floats, replaced at once).
    public init(restoring buffers: [String: [Float]], parameterCount: Int, updates: Int, learningRate: Double) throws {
        guard let bm = buffers["adam.m"], bm.count == parameterCount else { throw OptimizerError.missingState("adam.m", expectedCount: parameterCount) }
        guard let bv = buffers["adam.v"], bv.count == parameterCount else { throw OptimizerError.missingState("adam.v", expectedCount: parameterCount) }
        self.learningRate = learningRate
        m = bm; v = bv; self.updates = updates
    }

    public var stateBuffers: [(name: String, values: [Float])] { [("adam.m", m), ("adam.v", v)] }

    public mutating func restore(updates: Int, buffers: [String: [Float]]) throws {
        guard let bm = buffers["adam.m"], bm.count == m.count else { throw OptimizerError.missingState("adam.m", expectedCount: m.count) }
        guard let bv = buffers["adam.v"], bv.count == v.count else { throw OptimizerError.missingState("adam.v", expectedCount: v.count) }
        m = bm; v = bv; self.updates = updates
    }

    public mutating func ascend(parameters: inout [Float], gradient: [Float]) {
        precondition(parameters.count == gradient.count && m.count == gradient.count)
        updates += 1
        let t = Double(updates)
        let b1 = Float(beta1), b2 = Float(beta2)
        // Fold both bias corrections into one step size: η·√(1−β₂ᵗ)/(1−β₁ᵗ).
        let stepSize = Float(learningRate * (1 - Foundation.pow(beta2, t)).squareRoot() / (1 - Foundation.pow(beta1, t)))
        let eps = Float(epsilon * (1 - Foundation.pow(beta2, t)).squareRoot())
        // One vectorized pass (`capg_adam_ascend_f32`: the scalar loop's operations in its
        // order, so bitwise its values), cut into contiguous parts on the rank's threads;
        // each item is written once, so the cut does not change a bit.
        let threads = GEMM.threads
        m.withUnsafeMutableBufferPointer { m in
            v.withUnsafeMutableBufferPointer { v in
                parameters.withUnsafeMutableBufferPointer { p in
                    gradient.withUnsafeBufferPointer { g in
                        WorkerThreads.forEachPart(of: p.count, minimumPart: 1 << 16, threads: threads) { r in
                            capg_adam_ascend_f32(p.baseAddress! + r.lowerBound, m.baseAddress! + r.lowerBound,
                                                 v.baseAddress! + r.lowerBound, g.baseAddress! + r.lowerBound,
                                                 r.count, b1, b2, stepSize, eps)
                        }
                    }
                }
            }
        }
    }
}
