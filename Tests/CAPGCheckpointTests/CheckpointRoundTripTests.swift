import CAPGCore
import CAPGTrain
import Foundation
import XCTest
@testable import CAPGCheckpoint

final class CheckpointRoundTripTests: XCTestCase {
    /// Encode → decode gives back exactly the snapshot (parameters, Adam m/v and update
    /// count, baseline, config, metrics), with one chunk per tensor or many.
    func testRoundTrip() throws {
        let snap = try Fixture.snapshot()
        XCTAssertEqual(snap.state.step, 6)
        XCTAssertEqual(snap.state.optimizerUpdates, 6)
        XCTAssertEqual(snap.state.optimizerBuffers.map(\.name), ["adam.m", "adam.v"])
        XCTAssertNotNil(snap.progress.lastEvaluation)
        for chunk in [CheckpointFormat.defaultChunkBytes, 64, 4] {
            let bytes = try CheckpointEncoder(chunkBytes: chunk).encode(snap)
            let d = try CheckpointDecoder.decode(bytes)
            XCTAssertEqual(d.snapshot, snap, "chunk \(chunk)")
            XCTAssertEqual(d.tensors.map(\.name), ["param.W", "param.E", "param.b", "adam.m", "adam.v"])
            XCTAssertEqual(d.tensors[1].shape, [60, 4])
            XCTAssertEqual(d.configHash, snap.config.trajectoryHash)
            XCTAssertEqual(d.fileBytes, bytes.count)
        }
        // SGD has no state buffers.
        var c = Fixture.config(); c.optimizer = .sgd
        let s = try Fixture.snapshot(c)
        XCTAssertEqual(try CheckpointDecoder.decode(CheckpointEncoder().encode(s)).snapshot, s)
    }

    /// Adagrad on the paper world with V-PG-SwR: the checkpoint carries `adagrad.g2`, and a
    /// resume from it continues bitwise (in process).
    func testAdagradPaperResumeIsBitwise() throws {
        var c = Fixture.config(steps: 8)
        c.data = .paper; c.users = 12; c.optimizer = .adagrad; c.lr = 0.1; c.estimator = .vpgSwr
        let full = try TrainingRun(config: c, runDirectory: nil, quiet: true).run(communicator: SingleProcessCommunicator())
        c.steps = 4
        let half = try Fixture.snapshot(c)
        XCTAssertEqual(half.state.optimizerBuffers.map(\.name), ["adagrad.g2"])
        let decoded = try CheckpointDecoder.decode(CheckpointEncoder(chunkBytes: 100).encode(half)).snapshot
        XCTAssertEqual(decoded, half)
        c.steps = 8
        let resumed = try TrainingRun(config: c, runDirectory: nil, quiet: true, resume: decoded)
            .run(communicator: SingleProcessCommunicator())
        XCTAssertEqual(resumed.paramFingerprint, full.paramFingerprint)
        XCTAssertEqual(resumed.finalValue, full.finalValue)
    }

    /// Same snapshot and creation time ⇒ byte-identical files.
    func testEncodingIsDeterministic() throws {
        let snap = try Fixture.snapshot()
        let e = CheckpointEncoder(chunkBytes: 256, createdUnixMs: 1)
        XCTAssertEqual(try e.encode(snap), try e.encode(snap))
    }

    /// T steps, checkpoint, restore into a fresh trainer, T more ⇒ bitwise the parameters
    /// of 2T uninterrupted steps (in process; the MPI tests repeat this through the CLI).
    func testResumeIsBitwiseInProcess() throws {
        var c = Fixture.config(steps: 10)
        let full = try TrainingRun(config: c, runDirectory: nil, quiet: true).run(communicator: SingleProcessCommunicator())
        c.steps = 5
        let half = try Fixture.snapshot(c)
        let decoded = try CheckpointDecoder.decode(CheckpointEncoder(chunkBytes: 100).encode(half)).snapshot
        c.steps = 10
        let resumed = try TrainingRun(config: c, runDirectory: nil, quiet: true, resume: decoded)
            .run(communicator: SingleProcessCommunicator())
        XCTAssertEqual(resumed.paramFingerprint, full.paramFingerprint)
        XCTAssertEqual(resumed.finalValue, full.finalValue)
        XCTAssertEqual(resumed.meanRewardLast, full.meanRewardLast)
        XCTAssertEqual(resumed.resumedFromStep, 5)
        XCTAssertEqual(resumed.segments, 2)
    }

    /// With a learned LSR the checkpoint holds both models (`param.lsr.w`, `lsr.adam.*`),
    /// and resuming mid-way through an alternating schedule (inside an LSR block) is bitwise
    /// the uninterrupted run for both models.
    func testLearnedLSRResumeIsBitwise() throws {
        var c = Fixture.config(steps: 10)
        c.lsrMode = .alternating; c.lsrAlternateEvery = 3; c.lsrTemperature = 0.2; c.lsrAlignment = 0
        c.checkpointEvery = 0
        let full = try Fixture.snapshot(c)
        c.steps = 5
        let half = try Fixture.snapshot(c)
        let names = CheckpointFormat.expectedTensors(config: c).map(\.name)
        XCTAssertEqual(names, ["param.W", "param.E", "param.b", "param.lsr.w", "adam.m", "adam.v", "lsr.adam.m", "lsr.adam.v"])
        let decoded = try CheckpointDecoder.decode(CheckpointEncoder(chunkBytes: 64).encode(half)).snapshot
        XCTAssertEqual(decoded.state, half.state)
        c.steps = 10
        let sink = CapturingSink()
        _ = try TrainingRun(config: c, runDirectory: nil, quiet: true, resume: decoded, checkpointSink: sink)
            .run(communicator: SingleProcessCommunicator())
        let resumed = try XCTUnwrap(sink.last)
        XCTAssertEqual(resumed.state.parameters, full.state.parameters)
        XCTAssertEqual(resumed.state.optimizerBuffers, full.state.optimizerBuffers)
        let lsr = full.state.parameters.suffix(c.lsrFeatureCount)
        XCTAssertNotEqual(Array(lsr), LinearLateStageModel(featureCount: c.lsrFeatureCount, temperature: 1).initialWeights(),
                          "the LSR weights moved (otherwise this test would not exercise them)")
    }

    /// Each failure mode is its own typed error.
    func testTypedErrors() throws {
        let snap = try Fixture.snapshot()
        let good = try CheckpointEncoder(chunkBytes: 128).encode(snap)
        func error(_ bytes: [UInt8]) -> CheckpointError? {
            do { _ = try CheckpointDecoder.decode(bytes); return nil } catch { return error as? CheckpointError }
        }
        func kind(_ e: CheckpointError?) -> String { e.map { "\($0)".components(separatedBy: ":")[0] } ?? "none" }

        guard case .notACheckpoint? = error([]) else { return XCTFail("empty") }
        guard case .notACheckpoint? = error(Array("{\"items\": 3}".utf8)) else { return XCTFail("json") }
        guard case .wrongMagic? = error(Array("CAPGCKP2".utf8) + good.dropFirst(8)) else { return XCTFail("magic") }
        guard case .truncated? = error(Array(good.prefix(5))) else { return XCTFail("short magic") }
        guard case .truncated? = error(Array(good.dropLast(1))) else { return XCTFail("cut") }
        guard case .trailingData(let n)? = error(good + [0]), n == 1 else { return XCTFail("appended") }
        var flipped = good; flipped[good.count / 2] ^= 0x10
        guard case .checksumMismatch? = error(flipped) else { return XCTFail("flip") }

        var newer = CheckpointEncoder(); newer.schemaVersion = CheckpointFormat.schemaVersion + 1
        guard case .newerSchema(let f, let s)? = error(try newer.encode(snap)), f == 2, s == 1 else { return XCTFail("schema") }

        // A file whose tensor disagrees with its own config.
        var tensors = try CheckpointEncoder.tensors(of: snap)
        tensors[1].shape = [30, 8]
        var bytes: [UInt8] = []
        _ = try CheckpointEncoder().encode(snap, tensors: tensors) { bytes.append(contentsOf: $0) }
        guard case .tensorShapeMismatch(let name, let e, let found)? = error(bytes) else { return XCTFail("shape: \(kind(error(bytes)))") }
        XCTAssertEqual(name, "param.E"); XCTAssertEqual(e, [60, 4]); XCTAssertEqual(found, [30, 8])

        // Compatibility with the resuming run: steps may change, lr may not, items changes shapes.
        let d = try CheckpointDecoder.decode(good)
        var run = snap.config; run.steps = 1000; run.evalEvery = 7; run.checkpointEvery = 1
        XCTAssertNoThrow(try d.checkCompatible(with: run))
        run.lr = 0.5
        XCTAssertThrowsError(try d.checkCompatible(with: run)) { e in
            guard case .incompatibleConfig(let diffs)? = e as? CheckpointError else { return XCTFail("\(e)") }
            XCTAssertEqual(diffs.count, 1); XCTAssertTrue(diffs[0].hasPrefix("lr is 0.05"), diffs[0])
        }
        // Every message is a sentence a user can act on.
        for e: CheckpointError in [.truncated("x"), .newerSchema(found: 2, supported: 1), .noValidCheckpoint(directory: "d", skipped: ["a: b"])] {
            XCTAssertGreaterThan(e.description.count, 30)
        }
    }

    /// The trainer refuses a state that does not fit, and changes nothing.
    func testTrainerRestoreRejectsMismatchedState() throws {
        let c = Fixture.config()
        let t = try Trainer(config: c, communicator: SingleProcessCommunicator())
        var s = t.exportState()
        let before = t.parameters
        s.parameters.removeLast()
        XCTAssertThrowsError(try t.restore(s))
        s = t.exportState(); s.optimizerBuffers.removeLast()
        XCTAssertThrowsError(try t.restore(s))
        XCTAssertEqual(t.parameters, before)
        XCTAssertEqual(t.step, 0)
    }

    /// The writer keeps the newest n, `latest` names the newest, temp files are cleaned;
    /// `--resume auto` skips a damaged newest checkpoint and says why.
    func testWriterRetentionAndAutoResume() throws {
        let dir = Fixture.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        FileManager.default.createFile(atPath: dir + "/.ckpt-0000000009.capgckpt.tmp-1", contents: Data([1, 2, 3]))
        let writer = try CheckpointWriter(directory: dir, keep: 2)
        var snap = try Fixture.snapshot()
        snap.progress.lastEvaluationStep = 0
        for step in [2, 4, 6] {
            snap.state.step = step; snap.state.optimizerUpdates = step
            let r = try writer.write(snap)
            XCTAssertGreaterThan(r.bytes, 0)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).sorted(),
                       ["ckpt-0000000004.capgckpt", "ckpt-0000000006.capgckpt", "latest"])
        XCTAssertEqual(try CheckpointReader.load(dir).checkpoint.snapshot.state.step, 6)
        XCTAssertEqual(try CheckpointReader.load(dir + "/latest").checkpoint.snapshot.state.step, 6)

        // Damage the newest: auto takes step 4 and reports the skip.
        let newest = dir + "/ckpt-0000000006.capgckpt"
        var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: newest)))
        bytes.removeLast(10)
        try Data(bytes).write(to: URL(fileURLWithPath: newest))
        let found = try XCTUnwrap(CheckpointReader.newestValid(in: dir, compatibleWith: snap.config))
        XCTAssertEqual(found.loaded.checkpoint.snapshot.state.step, 4)
        XCTAssertEqual(found.skipped.count, 1)
        XCTAssertTrue(found.skipped[0].contains("ckpt-0000000006.capgckpt: truncated"), found.skipped[0])
        // Through the communicator-level loader (single process).
        let r = try ResumeLoader.load(.auto, checkpointDirectory: dir, config: snap.config, communicator: SingleProcessCommunicator())
        XCTAssertEqual(r.snapshot?.state.step, 4)
        // An empty directory: a fresh start; an explicit bad path: an error.
        let empty = Fixture.tempDir()
        defer { try? FileManager.default.removeItem(atPath: empty) }
        XCTAssertNil(try ResumeLoader.load(.auto, checkpointDirectory: empty, config: snap.config,
                                           communicator: SingleProcessCommunicator()).snapshot)
        XCTAssertThrowsError(try ResumeLoader.load(.path(newest), checkpointDirectory: dir, config: snap.config,
                                                   communicator: SingleProcessCommunicator()))
        // Resuming from step 4 and writing step 5 sets the newer step-6 file aside.
        snap.state.step = 5; snap.state.optimizerUpdates = 5
        var notices: [String] = []
        writer.log = { notices.append($0) }
        _ = try writer.write(snap)
        XCTAssertEqual(notices.count, 1)
        XCTAssertEqual(try CheckpointReader.load(dir).checkpoint.snapshot.state.step, 5)
        XCTAssertTrue(FileManager.default.fileExists(atPath: newest + ".superseded"))
    }
}
