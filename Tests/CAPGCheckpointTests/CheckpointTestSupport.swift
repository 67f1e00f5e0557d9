import CAPGCore
import CAPGTrain
import Foundation
@testable import CAPGCheckpoint

/// Shared fixtures: a small config, a snapshot from a few real training steps, temp dirs.
enum Fixture {
    static func config(items: Int = 60, dim: Int = 4, steps: Int = 6) -> TrainingConfig {
        var c = TrainingConfig()
        c.items = items; c.dim = dim; c.contextDim = 3; c.k = 5; c.batchSize = 4; c.steps = steps
        c.evalQueries = 8; c.evalSamples = 2; c.evalEvery = 3; c.checkEvery = 0
        return c
    }

    /// The state after `config.steps` steps of a single-process run.
    static func snapshot(_ config: TrainingConfig = config()) throws -> TrainingSnapshot {
        let sink = CapturingSink()
        _ = try TrainingRun(config: config, runDirectory: nil, quiet: true, checkpointSink: sink)
            .run(communicator: SingleProcessCommunicator())
        return sink.last!
    }

    static func tempDir() -> String {
        let d = FileManager.default.temporaryDirectory.appendingPathComponent("capg-ckpt-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: d, withIntermediateDirectories: true)
        return d
    }
}

/// Keeps the snapshots handed to it.
final class CapturingSink: CheckpointSink {
    var all: [TrainingSnapshot] = []
    var last: TrainingSnapshot? { all.last }
    func write(_ snapshot: TrainingSnapshot) throws -> CheckpointWriteReport {
        all.append(snapshot)
        return CheckpointWriteReport(path: "(memory)", bytes: 0, seconds: 0)
    }
}
