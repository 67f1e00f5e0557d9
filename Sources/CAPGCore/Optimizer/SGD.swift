/// Plain stochastic gradient ascent: `θ ← θ + η g`. O(P), no state.
public struct SGD: Optimizer {
    public var learningRate: Double
    public var updates = 0
    public var kind: OptimizerKind { .sgd }

    public init(learningRate: Double) { self.learningRate = learningRate }

    public var stateBuffers: [(name: String, values: [Float])] { [] }

    public mutating func restore(updates: Int, buffers: [String: [Float]]) throws { self.updates = updates }

    public mutating func ascend(parameters: inout [Float], gradient: [Float]) {
        precondition(parameters.count == gradient.count)
        let lr = Float(learningRate)
        parameters.withUnsafeMutableBufferPointer { p in
            gradient.withUnsafeBufferPointer { g in
                for i in 0..<p.count { p[i] += lr * g[i] }
            }
        }
        updates += 1
    }
}
