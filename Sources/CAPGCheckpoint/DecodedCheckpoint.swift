import CAPGTrain
import Foundation

/// A checkpoint that passed every check of `CheckpointDecoder`, with what `inspect` shows.
public struct DecodedCheckpoint: Sendable {
    /// One tensor as described by the header.
    public struct Tensor: Sendable, Equatable {
        public var name: String
        public var shape: [Int]
        public var dtype: String
        public var bytes: Int
        public var chunks: Int
    }

    public var snapshot: TrainingSnapshot
    public var schemaVersion: Int
    public var writerVersion: String
    public var createdUnixMs: Int64
    /// SHA-256 of the trajectory-defining config keys, as written.
    public var configHash: String
    public var tensors: [Tensor]
    public var chunkBytes: Int
    /// Frames before the trailer (header + chunks).
    public var frames: Int
    /// Frames in the file: header, chunks and trailer (what `inspect` reports, text and JSON).
    public var frameCount: Int { frames + 1 }
    public var fileBytes: Int
    public var payloadCRC32C: UInt32

    /// Throws `.incompatibleConfig` naming every trajectory-defining key that differs from
    /// `run`, or `.tensorShapeMismatch` if a tensor does not have the shape `run` needs.
    /// Keys such as `steps` may differ (`TrainingConfig.resumeMutableKeys`).
    public func checkCompatible(with run: TrainingConfig) throws {
        let diffs = snapshot.config.resumeIncompatibilities(with: run)
        if !diffs.isEmpty {
            throw CheckpointError.incompatibleConfig(diffs.map { "\($0.key) is \($0.checkpoint) in the checkpoint but \($0.run) in this run" })
        }
        let expected = CheckpointFormat.expectedTensors(config: run)
        for (e, t) in zip(expected, tensors) where e.name == t.name && e.shape != t.shape {
            throw CheckpointError.tensorShapeMismatch(name: t.name, expected: e.shape, found: t.shape)
        }
        if expected.map(\.name) != tensors.map(\.name) {
            throw CheckpointError.malformed("tensors \(tensors.map(\.name)) do not match the run's \(expected.map(\.name))")
        }
    }

    /// The summary printed by `capg checkpoint inspect --json`.
    public var json: [String: Any] {
        let s = snapshot, st = s.state, p = s.progress
        var metrics: [String: Any] = [
            "compute_seconds": p.computeSeconds, "allreduce_seconds": p.allreduceSeconds,
            "optimizer_seconds": p.optimizerSeconds, "io_seconds": p.ioSeconds, "wall_seconds": p.wallSeconds,
            "mean_reward_last": p.meanRewardLast, "replica_checks_passed": st.replicasChecked, "segments": p.segments,
        ]
        if let e = p.lastEvaluation {
            metrics["last_evaluation"] = ["step": p.lastEvaluationStep, "value": e.value,
                                          "normalized_value": e.normalizedValue, "recall": e.recall] as [String: Any]
        }
        let c = s.config
        var model: [String: Any] = [
            "data": c.data.rawValue, "description": c.modelDescription,
            "parameter_count": c.parameterCount,
            "parameter_tensors": c.parameterTensors.map { ["name": $0.name, "offset": $0.offset, "shape": $0.shape] as [String: Any] },
        ]
        switch c.data {
        case .synthetic, .obd, .paper:
            model["esr"] = "two-tower"
            model["items"] = c.items; model["dim"] = c.dim; model["context_dim"] = c.contextDim
        case .letor:
            model["esr"] = c.hidden > 0 ? "mlp" : "linear"
            model["features"] = c.features; model["hidden"] = c.hidden
        }
        if c.lsrFeatureCount > 0 { model["lsr_features"] = c.lsrFeatureCount; model["lsr_mode"] = c.lsrMode.rawValue }
        for t in s.dataTensors { model[t.name] = t.values.map(Double.init) }
        return [
            "model": model,
            "schema_version": schemaVersion, "writer_version": writerVersion, "created_unix_ms": createdUnixMs,
            "step": st.step, "ranks": s.ranks, "config": s.config.jsonObject, "config_hash": configHash,
            "rng": ["generator": CheckpointFormat.generator, "seed": s.config.seed, "env_seed": s.config.envSeed, "step": st.step] as [String: Any],
            "data": ["batch_size": s.config.batchSize, "query_count": s.config.queries,
                     "queries_consumed": st.step * s.config.batchSize] as [String: Any],
            "optimizer": ["kind": st.optimizerKind.rawValue, "updates": st.optimizerUpdates, "learning_rate": s.config.lr] as [String: Any],
            "running_baseline": st.runningBaseline, "metrics": metrics,
            "tensors": tensors.map { ["name": $0.name, "shape": $0.shape, "dtype": $0.dtype, "bytes": $0.bytes, "chunks": $0.chunks] as [String: Any] },
            "chunk_bytes": chunkBytes, "frames": frameCount, "file_bytes": fileBytes,
            "payload_crc32c": String(format: "0x%08x", payloadCRC32C),
            "param_fingerprint": SHA256.hex(floats: st.parameters),
        ]
    }
}
