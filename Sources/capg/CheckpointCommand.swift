import ArgumentParser
import CAPGCheckpoint
import CAPGCore
import CAPGTrain
import Foundation

/// `capg checkpoint inspect|verify|bench`.
struct CheckpointCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "checkpoint",
        abstract: "Inspect, verify or benchmark capg checkpoint files.",
        discussion: """
        PATH may be a checkpoint file (ckpt-<step>.capgckpt), a `latest` pointer file, or a \
        checkpoint directory (meaning the checkpoint its `latest` names).
        """,
        subcommands: [Inspect.self, Verify.self, Bench.self])

    static func fail(_ error: Error) -> Never {
        FileHandle.standardError.write(Data("capg: invalid checkpoint: \(error)\n".utf8))
        Foundation.exit(1)
    }

    struct Inspect: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify a checkpoint and print its header: step, task and model shape, config, optimizer, metrics, tensors (and, for LETOR, the feature standardization).",
            discussion: "Exit codes: 0 valid; 1 invalid (the reason on stderr); 64 usage error.")

        @Argument(help: "Checkpoint file, `latest` pointer or checkpoint directory.")
        var path: String
        @Flag(help: "Print one JSON object instead of a summary.")
        var json = false

        func run() throws {
            // Mapped and walked, never read into memory: inspect works on checkpoints larger
            // than this machine's memory.
            let loaded: VerifiedCheckpointFile
            let contents: (fingerprint: String, dataTensors: [TrainerState.Buffer])
            do {
                loaded = try VerifiedCheckpointFile(path: path)
                contents = try loaded.parameterFingerprintAndDataTensors()
            } catch { CheckpointCommand.fail(error) }
            var d = loaded.checkpoint
            d.snapshot.dataTensors = contents.dataTensors
            if json {
                var obj = d.json
                obj["path"] = loaded.path
                obj["read_mb_per_s"] = loaded.megabytesPerSecond
                obj["param_fingerprint"] = contents.fingerprint
                let data = try JSONSerialization.data(withJSONObject: obj, options: [.prettyPrinted, .sortedKeys])
                print(String(decoding: data, as: UTF8.self))
                return
            }
            let s = d.snapshot, st = s.state, c = s.config
            let created = Date(timeIntervalSince1970: Double(d.createdUnixMs) / 1000)
            print("checkpoint \(loaded.path)")
            print(String(format: "  %.1f MB, %d frames, chunks of %d bytes; verified at %.0f MB/s", Double(d.fileBytes) / 1e6,
                         d.frameCount, d.chunkBytes, loaded.megabytesPerSecond))
            print("  schema v\(d.schemaVersion), written by \(d.writerVersion) at \(ISO8601DateFormatter().string(from: created)) by \(s.ranks) rank(s)")
            print("  step \(st.step) (\(st.step * c.batchSize) queries consumed), seed \(c.seed), env_seed \(c.envSeed)")
            print("  model: \(c.modelDescription); \(c.parameterCount) parameters")
            print("  \(c.estimator.rawValue) K=\(c.k) B=\(c.batchSize) lr=\(c.lr), \(c.queries) training queries; config hash \(d.configHash.prefix(16))")
            for t in contents.dataTensors {
                let shown = t.values.prefix(4).map { String(format: "%.4g", $0) }.joined(separator: ", ")
                print("  \(t.name) (\(t.values.count)): [\(shown)\(t.values.count > 4 ? ", …" : "")]")
            }
            print("  optimizer \(st.optimizerKind.rawValue), \(st.optimizerUpdates) updates; running baseline \(st.runningBaseline)")
            if let e = s.progress.lastEvaluation {
                print(String(format: "  last evaluation (step %d): value %.4f  normalized %.3f  recall %.3f",
                             s.progress.lastEvaluationStep, e.value, e.normalizedValue, e.recall))
            }
            print(String(format: "  mean reward (last step) %.4f; %d segment(s), %.1f s wall so far", s.progress.meanRewardLast,
                         s.progress.segments, s.progress.wallSeconds))
            for t in d.tensors {
                print("  tensor \(t.name) \(t.shape) \(t.dtype), \(t.bytes) bytes in \(t.chunks) chunk(s)")
            }
            print("  param fingerprint \(contents.fingerprint)")
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check every checksum and the structure of a checkpoint.",
            discussion: "Exit codes: 0 valid; 1 invalid (the reason on stderr); 64 usage error.")

        @Argument(help: "Checkpoint file, `latest` pointer or checkpoint directory.")
        var path: String

        func run() throws {
            let loaded: VerifiedCheckpointFile
            do { loaded = try VerifiedCheckpointFile(path: path) } catch { CheckpointCommand.fail(error) }
            print(String(format: "valid: %@ (step %d, %.1f MB, read %.0f MB/s)", loaded.path, loaded.checkpoint.snapshot.state.step,
                         Double(loaded.checkpoint.fileBytes) / 1e6, loaded.megabytesPerSecond))
        }
    }

    struct Bench: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Time writing and reading a checkpoint of a given size (random parameters, Adam state).",
            discussion: "Writes into --dir (default a temporary directory, removed afterwards) and prints MB/s.")

        @Option(help: "Items N.")
        var items = 1_000_000
        @Option(help: "Embedding dimension d.")
        var dim = 64
        @Option(help: "Repetitions.")
        var repeats = 3
        @Option(help: "Directory to write into (created if missing; its parent must exist).")
        var dir: String?

        /// The benchmark's config; its own validation bounds items and dim (a negative N
        /// used to reach the allocator and crash, leaving the temp folder behind).
        var config: TrainingConfig {
            var c = TrainingConfig()
            c.items = items; c.dim = dim; c.optimizer = .adam; c.k = 1
            return c
        }

        func validate() throws {
            do { try config.validate() } catch { throw ValidationError("--items/--dim: \(error)") }
            guard repeats >= 1 else { throw ValidationError("--repeats must be ≥ 1 (got \(repeats))") }
            if let dir {
                // Creating a whole missing path is how a typo'd --dir fills the wrong disk.
                let parent = URL(fileURLWithPath: dir).deletingLastPathComponent().path
                var isDir: ObjCBool = false
                guard FileManager.default.fileExists(atPath: parent, isDirectory: &isDir), isDir.boolValue else {
                    throw ValidationError("--dir \(dir): the parent directory \(parent) does not exist; create it first")
                }
            }
        }

        func run() throws {
            let c = config
            let p = c.shape.parameterCount
            var rng = SystemRandomNumberGenerator()
            func random() -> [Float] { (0..<p).map { _ in Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()) & 0x3FFF_FFFF) } }
            let state = TrainerState(step: 1000, parameters: random(), optimizerKind: .adam, optimizerUpdates: 1000,
                                     optimizerBuffers: [.init(name: "adam.m", values: random()), .init(name: "adam.v", values: random())],
                                     runningBaseline: 0.1, replicasChecked: 0)
            let snap = TrainingSnapshot(config: c, ranks: 1, state: state, progress: RunProgress())
            let target = dir ?? FileManager.default.temporaryDirectory.appendingPathComponent("capg-bench-\(getpid())").path
            defer { if dir == nil { try? FileManager.default.removeItem(atPath: target) } }
            let writer = try CheckpointWriter(directory: target, keep: 1)
            print("N=\(items) d=\(dim): \(p) parameters + Adam m, v = \(3 * p) floats")
            let t0 = Date()
            let crc = state.parameters.withUnsafeBytes { CRC32C.checksum($0) }
            print(String(format: "  CRC32C alone: %.0f MB/s (checksum %08x)", Double(p * 4) / 1e6 / Date().timeIntervalSince(t0), crc))
            for i in 0..<repeats {
                var s = snap; s.state.step = 1000 + i
                let w = try writer.write(s)
                // Drop the page cache's copy is not possible unprivileged; the read figure is warm-cache.
                let r = try CheckpointReader.load(target)
                guard r.checkpoint.snapshot.state == s.state else { throw ValidationError("read-back differs from what was written") }
                print(String(format: "  write %.1f MB in %.3f s = %.0f MB/s (incl. fsync); read+verify %.3f s = %.0f MB/s (read %.3f s, verify %.3f s)",
                             Double(w.bytes) / 1e6, w.seconds, w.megabytesPerSecond, r.readSeconds + r.verifySeconds,
                             r.megabytesPerSecond, r.readSeconds, r.verifySeconds))
            }
        }
    }
}
