import CAPGCore
import CAPGTrain
import CCheckpointProto
import Foundation

/// The checked contents of a checkpoint header: every field present, the config valid, and
/// the RNG state, data position, optimizer and tensor manifest consistent with that config.
struct HeaderFields {
    /// Where a tensor's floats go: into the flat parameter buffer at an offset, or into a
    /// buffer of its own (an optimizer state buffer or, when `isData`, a data tensor).
    struct Plan { var bytes: Int; var parameterOffset: Int?; var isData = false }

    var schemaVersion: Int
    var writerVersion: String
    var createdUnixMs: Int64
    var config: TrainingConfig
    var configHash: String
    var step: Int
    var ranks: Int
    var runningBaseline: Double
    var optimizerUpdates: Int
    var replicaChecks: Int
    var progress = RunProgress()
    var tensors: [DecodedCheckpoint.Tensor] = []
    var tensorPlan: [Plan] = []
    var chunkBytes: Int

    init(_ hp: UnsafeMutablePointer<Capg__V1__Header>, fileBytes: Int) throws {
        let h = hp.pointee
        func text(_ p: UnsafeMutablePointer<CChar>?) -> String { p.map { String(cString: $0) } ?? "" }
        func bad(_ m: String) -> CheckpointError { .malformed("header: \(m)") }

        let magic = text(h.magic)
        guard magic == CheckpointFormat.headerMagic else { throw CheckpointError.wrongMagic(found: "\"\(magic)\" in the header") }
        schemaVersion = Int(h.schema_version)
        guard schemaVersion >= 1 else { throw bad("schema_version is 0 (unset)") }
        guard schemaVersion <= CheckpointFormat.schemaVersion else {
            throw CheckpointError.newerSchema(found: schemaVersion, supported: CheckpointFormat.schemaVersion)
        }
        writerVersion = text(h.writer_version)
        createdUnixMs = h.created_unix_ms
        configHash = text(h.config_hash)

        var c = TrainingConfig()
        do {
            try c.apply(json: Data(text(h.config_json).utf8), source: "the checkpoint's config")
            try c.validate(ranks: max(1, Int(clamping: h.ranks)))  // as valid when written, on the writer's ranks
        } catch {
            throw bad("config: \(error)")
        }
        config = c
        // The hash is written from the same config, so a difference means the config JSON
        // was edited (and the CRCs recomputed) or the writer hashed other keys.
        let stored = (try? JSONSerialization.jsonObject(with: Data(text(h.config_json).utf8))) as? [String: Any] ?? [:]
        let storedHash = TrainingConfig.trajectoryHash(ofJSONObject: stored)
        guard configHash == storedHash else {
            throw bad("config_hash \(configHash.prefix(16))… does not match the config's trajectory hash \(storedHash.prefix(16))… (the config was edited after writing)")
        }
        // Sizes from a config that passed its CRCs can still be absurd (a crafted file):
        // refuse any whose tensors (the config's own list, for whichever task it names)
        // overflow or cannot fit in the file, before anything is allocated for them.
        let expected = CheckpointFormat.expectedTensors(config: c)
        guard let needed = CheckpointFormat.checkedByteCount(expected), needed <= fileBytes else {
            let need = CheckpointFormat.checkedByteCount(expected).map { "\($0) bytes" } ?? "more bytes than fit in memory"
            throw CheckpointError.truncated("the config (\(c.modelDescription)) needs \(need) of tensors (\(expected.map(\.name).joined(separator: ", "))), more than the whole file holds (\(fileBytes) bytes)")
        }

        guard h.step <= UInt64(Int.max / max(1, c.batchSize)) else { throw bad("step \(h.step) out of range") }
        step = Int(h.step)
        ranks = Int(h.ranks)
        runningBaseline = h.running_baseline
        guard h.chunk_bytes > 0, h.chunk_bytes % 4 == 0, h.chunk_bytes <= UInt64(CheckpointFormat.maxFrameBytes) else {
            throw bad("chunk_bytes \(h.chunk_bytes) is not a positive multiple of 4 within the frame limit")
        }
        chunkBytes = Int(h.chunk_bytes)

        guard let rng = h.rng?.pointee else { throw bad("missing rng state") }
        guard rng.seed == c.seed, rng.env_seed == c.envSeed, rng.step == h.step else {
            throw bad("rng state (seed \(rng.seed), env_seed \(rng.env_seed), step \(rng.step)) disagrees with the config and step")
        }
        guard let data = h.data?.pointee else { throw bad("missing data position") }
        let q = UInt64(c.queries)
        guard data.batch_size == UInt64(c.batchSize), data.query_count == q,
              data.queries_consumed == h.step &* UInt64(c.batchSize),
              data.next_query_id == (h.step % q) * (UInt64(c.batchSize) % q) % q else {
            throw bad("data position disagrees with batch_size, queries and step")
        }
        guard let opt = h.optimizer?.pointee else { throw bad("missing optimizer state") }
        guard text(opt.kind) == c.optimizer.rawValue else {
            throw bad("optimizer state is '\(text(opt.kind))' but the config says \(c.optimizer.rawValue)")
        }
        guard opt.updates <= h.step else { throw bad("optimizer updates \(opt.updates) exceed the step \(h.step)") }
        optimizerUpdates = Int(opt.updates)

        guard let m = h.metrics?.pointee else { throw bad("missing metrics") }
        guard m.replica_checks_passed <= h.step, m.segments >= 1 else { throw bad("metrics are inconsistent with the step") }
        replicaChecks = Int(m.replica_checks_passed)
        progress.computeSeconds = m.compute_seconds
        progress.allreduceSeconds = m.allreduce_seconds
        progress.optimizerSeconds = m.optimizer_seconds
        progress.ioSeconds = m.io_seconds
        progress.wallSeconds = m.wall_seconds
        progress.meanRewardLast = m.mean_reward_last
        progress.segments = Int(m.segments)
        if let e = m.last_evaluation?.pointee {
            guard e.step <= h.step else { throw bad("last evaluation at step \(e.step) is after the step \(h.step)") }
            progress.lastEvaluation = StepMetrics.Evaluation(value: e.value, normalizedValue: e.normalized_value, recall: e.recall)
            progress.lastEvaluationStep = Int(e.step)
        }

        // Tensor manifest: exactly the tensors the config implies, in order, each fitting
        // in the file (so a corrupted size cannot trigger a huge allocation).
        guard h.n_tensors == expected.count, let list = h.tensors else {
            throw bad("\(h.n_tensors) tensors, the config implies \(expected.count) (\(expected.map(\.name).joined(separator: ", ")))")
        }
        let paramOffsets = Dictionary(uniqueKeysWithValues: c.parameterTensors.map { ("param." + $0.name, $0.offset) })
        var total = 0
        for (i, e) in expected.enumerated() {
            guard let info = list[i]?.pointee else { throw bad("tensor \(i) missing") }
            let name = text(info.name)
            guard name == e.name else { throw bad("tensor \(i) is '\(name)', expected '\(e.name)'") }
            var shape: [Int] = []
            for k in 0..<info.n_shape {
                guard let sp = info.shape, sp[k] <= UInt64(Int32.max) else { throw bad("tensor \(name) has an out-of-range dimension") }
                shape.append(Int(sp[k]))
            }
            guard shape == e.shape else { throw CheckpointError.tensorShapeMismatch(name: name, expected: e.shape, found: shape) }
            guard info.dtype == CAPG__V1__DTYPE__DTYPE_FLOAT32 else {
                throw bad("tensor \(name) has dtype \(info.dtype.rawValue), only FLOAT32 (1) is supported")
            }
            let bytes = e.shape.reduce(1, *) * 4
            guard info.byte_length == UInt64(bytes) else { throw bad("tensor \(name) claims \(info.byte_length) bytes, its shape needs \(bytes)") }
            let chunks = max(1, (bytes + chunkBytes - 1) / chunkBytes)
            guard info.chunk_count == UInt32(chunks) else {
                throw bad("tensor \(name) claims \(info.chunk_count) chunks, \(bytes) bytes in chunks of \(chunkBytes) need \(chunks)")
            }
            total += bytes
            guard total <= fileBytes else {
                throw CheckpointError.truncated("the header lists \(total)+ tensor bytes, more than the whole file (\(fileBytes) bytes)")
            }
            tensors.append(DecodedCheckpoint.Tensor(name: name, shape: shape, dtype: "float32", bytes: bytes, chunks: chunks))
            tensorPlan.append(Plan(bytes: bytes, parameterOffset: paramOffsets[name], isData: name.hasPrefix("data.")))
        }
    }
}

extension HeaderFields {
    /// The header as a snapshot whose tensors are empty: what a reader that streams the
    /// tensors (verify, inspect, the item-sharded resume) knows of the state.
    var scalarSnapshot: TrainingSnapshot {
        TrainingSnapshot(config: config, ranks: ranks, state: state(parameters: [], optimizerBuffers: []), progress: progress)
    }

    /// The trainer state of this header with the given tensors (empty for a state whose
    /// tensors are streamed to the ranks that own them).
    func state(parameters: [Float], optimizerBuffers: [TrainerState.Buffer]) -> TrainerState {
        TrainerState(step: step, parameters: parameters, optimizerKind: config.optimizer, optimizerUpdates: optimizerUpdates,
                     optimizerBuffers: optimizerBuffers, runningBaseline: runningBaseline, replicasChecked: replicaChecks)
    }
}
