/// Which optimizer updates the ESR parameters.
public enum OptimizerKind: String, CaseIterable, Sendable, Codable {
    case sgd, adam, adagrad

    public func make(parameterCount: Int, learningRate: Double) -> any Optimizer {
        switch self {
        case .sgd: return SGD(learningRate: learningRate)
        case .adam: return Adam(parameterCount: parameterCount, learningRate: learningRate)
        case .adagrad: return Adagrad(parameterCount: parameterCount, learningRate: learningRate)
        }
    }

    /// The optimizer continuing from checkpointed state (`Optimizer.stateBuffers` by name,
    /// each `parameterCount` long): what `make` then `restore` give, without first allocating
    /// the zero state the checkpoint's replaces (for Adam at N = 10⁷ items on one shard,
    /// 2.6 GB that used to set the resume's peak memory).
    public func restored(parameterCount: Int, learningRate: Double, updates: Int, buffers: [String: [Float]]) throws -> any Optimizer {
        switch self {
        case .sgd:
            var o = SGD(learningRate: learningRate)
            try o.restore(updates: updates, buffers: buffers)
            return o
        case .adam: return try Adam(restoring: buffers, parameterCount: parameterCount, updates: updates, learningRate: learningRate)
        case .adagrad: return try Adagrad(restoring: buffers, parameterCount: parameterCount, updates: updates, learningRate: learningRate)
        }
    }
}

/// A first-order optimizer that *ascends* the objective (capg maximizes the policy value).
///
/// Every rank applies the same update to the same allreduced gradient, so the update must be
/// a deterministic function of (parameters, gradient, state): no randomness, no threads.
public protocol Optimizer: Sendable {
    var kind: OptimizerKind { get }
    /// Number of updates applied so far.
    var updates: Int { get set }
    /// Named state buffers (for checkpoints), e.g. Adam's first and second moments.
    var stateBuffers: [(name: String, values: [Float])] { get }
    /// Restores the state buffers written by `stateBuffers`.
    mutating func restore(updates: Int, buffers: [String: [Float]]) throws
    /// θ ← θ + step(g); O(P).
    mutating func ascend(parameters: inout [Float], gradient: [Float])
}

public enum OptimizerError: Error, CustomStringConvertible {
    case missingState(String, expectedCount: Int)

    public var description: String {
        switch self {
        case .missingState(let n, let c): return "optimizer state '\(n)' missing or not \(c) values long"
        }
    }
}
