import CAPGTrain

/// Checks, on resume, that a checkpoint's data-derived tensors (LETOR's feature
/// standardization, `TrainingConfig.dataTensorShapes`) agree with the ones this run computed
/// from its own data. A difference means the training file changed under the same path:
/// the parameters were trained on other inputs, so continuing would silently train a
/// different model. Values are compared with a relative tolerance of 1e-5 (the moments are
/// allreduced sums, so another rank count may round the last bit differently). O(F).
public enum DataTensorCheck {
    public static let relativeTolerance: Float = 1e-5

    /// Throws `.incompatibleConfig` naming the first tensor and feature that differ.
    public static func check(checkpoint: [TrainerState.Buffer], run: [TrainerState.Buffer]) throws {
        guard checkpoint.map(\.name) == run.map(\.name) else {
            throw CheckpointError.incompatibleConfig(["data tensors are \(checkpoint.map(\.name)) in the checkpoint but \(run.map(\.name)) in this run"])
        }
        for (a, b) in zip(checkpoint, run) {
            guard a.values.count == b.values.count else {
                throw CheckpointError.tensorShapeMismatch(name: "data." + a.name, expected: [b.values.count], found: [a.values.count])
            }
            for j in a.values.indices {
                let x = a.values[j], y = b.values[j]
                if abs(x - y) > relativeTolerance * max(1, abs(x), abs(y)) || x.isNaN != y.isNaN {
                    throw CheckpointError.incompatibleConfig(["data.\(a.name)[\(j)] is \(x) in the checkpoint but \(y) computed from this run's training file: the training data changed since the checkpoint was written"])
                }
            }
        }
    }
}
