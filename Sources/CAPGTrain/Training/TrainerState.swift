import CAPGCore

/// Everything a `Trainer` needs to continue exactly where it stopped: with randomness keyed
/// by (seed, step, query id, sample) and the batch of step t fixed by t, the step, the
/// parameters, the optimizer state and the running baseline determine every later step.
public struct TrainerState: Sendable, Equatable {
    /// A named optimizer state buffer, e.g. Adam's `adam.m`.
    public struct Buffer: Sendable, Equatable {
        public var name: String
        public var values: [Float]
        public init(name: String, values: [Float]) { self.name = name; self.values = values }
    }

    /// Optimizer steps completed.
    public var step: Int
    /// The flat `[W | E | b]` parameter buffer.
    public var parameters: [Float]
    public var optimizerKind: OptimizerKind
    /// Updates applied by the optimizer (Adam's bias-correction counter).
    public var optimizerUpdates: Int
    public var optimizerBuffers: [Buffer]
    public var runningBaseline: Double
    /// Replica checks passed so far (reported in the summary).
    public var replicasChecked: Int

    public init(step: Int, parameters: [Float], optimizerKind: OptimizerKind, optimizerUpdates: Int,
                optimizerBuffers: [Buffer], runningBaseline: Double, replicasChecked: Int) {
        self.step = step; self.parameters = parameters; self.optimizerKind = optimizerKind
        self.optimizerUpdates = optimizerUpdates; self.optimizerBuffers = optimizerBuffers
        self.runningBaseline = runningBaseline; self.replicasChecked = replicasChecked
    }
}
