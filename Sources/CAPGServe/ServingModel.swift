import CAPGCheckpoint
import CAPGCore
import CAPGTrain
import Foundation

/// A trained ESR as a checkpoint holds it, ready to be exported, evaluated or served: the
/// resolved config, the trained parameters (ESR, then a learned LSR's `lsr.w`) with their
/// checkpoint names `param.*` and shapes, and the data tensors the model needs (`data.*`,
/// LETOR's feature standardization). The optimizer state is dropped (serving never needs it).
public struct ServingModel: Sendable {
    /// One named float32 tensor, row-major.
    public struct Tensor: Sendable, Equatable {
        public var name: String
        public var shape: [Int]
        public var values: [Float]
    }

    public let config: TrainingConfig
    /// Optimizer steps of the checkpoint.
    public let step: Int
    /// Every trained parameter in checkpoint order (the flat `TrainerState.parameters`).
    public let parameters: [Float]
    public let dataTensors: [TrainerState.Buffer]
    public let path: String

    public init(config: TrainingConfig, step: Int, parameters: [Float], dataTensors: [TrainerState.Buffer], path: String) {
        precondition(parameters.count == config.parameterCount, "parameters do not match the config's tensors")
        self.config = config; self.step = step; self.parameters = parameters; self.dataTensors = dataTensors; self.path = path
    }

    /// Reads and verifies the checkpoint at `path` (a file, `latest` pointer or directory).
    public init(checkpoint path: String) throws {
        let loaded = try CheckpointReader.load(path)
        let s = loaded.checkpoint.snapshot
        self.init(config: s.config, step: s.state.step, parameters: s.state.parameters, dataTensors: s.dataTensors,
                  path: loaded.path)
    }

    /// The same model evaluated on `n` evaluation queries (`eval_queries`, a key that does
    /// not change the trained model).
    public func with(evalQueries n: Int) -> ServingModel {
        var c = config
        c.evalQueries = n
        return ServingModel(config: c, step: step, parameters: parameters, dataTensors: dataTensors, path: path)
    }

    /// The ESR's own parameters (the prefix of `parameters` before a learned LSR's weights).
    public var esrParameters: [Float] {
        let n = config.esrParameterTensors.reduce(0) { $0 + $1.shape.reduce(1, *) }
        return Array(parameters[0..<n])
    }

    /// `param.<name>` tensors in checkpoint order, then `data.<name>` tensors.
    public var tensors: [Tensor] {
        let params = config.parameterTensors.map { t in
            Tensor(name: "param." + t.name, shape: t.shape,
                   values: Array(parameters[t.offset..<t.offset + t.shape.reduce(1, *)]))
        }
        let shapes = Dictionary(uniqueKeysWithValues: config.dataTensorShapes.map { ($0.name, $0.shape) })
        return params + dataTensors.map { Tensor(name: "data." + $0.name, shape: shapes[$0.name] ?? [$0.values.count], values: $0.values) }
    }

    /// SHA-256 of the parameter bytes (float32 little-endian, checkpoint order): the run's
    /// `param_fingerprint` (summary.json) for a fixed LSR.
    public var paramFingerprint: String { SHA256.hex(floats: parameters) }

    /// LETOR's feature standardization, nil for other tasks (or an old checkpoint without it).
    public var standardizer: FeatureStandardizer? {
        guard let m = dataTensors.first(where: { $0.name == "feature_mean" }),
              let s = dataTensors.first(where: { $0.name == "feature_inv_std" }) else { return nil }
        return FeatureStandardizer(mean: m.values, inverseStd: s.values)
    }

    /// How the ESR scores an item (the formula an exporter's reader must implement).
    public var scoreFormula: String {
        switch config.data {
        case .synthetic, .obd, .paper:
            return "two-tower: s_i(x) = sum_j E[i,j] * (W @ x)[j] + b[i]; x = context (context_dim floats)"
        case .letor where config.hidden == 0:
            return "linear: s_d = w . z_d + b[0]; z_d = (x_d - data.feature_mean) * data.feature_inv_std (x_d the raw LETOR features, feature id i in column i-1, missing = 0)"
        case .letor:
            return "mlp: s_d = v . max(0, W1 @ z_d + c1) + b[0]; z_d = (x_d - data.feature_mean) * data.feature_inv_std"
        }
    }
}
