import CAPGCore
import CAPGTrain
import Foundation
import XCTest
@testable import CAPGCheckpoint

/// What a CRC cannot catch (issue 17 item 7): files whose checksums are all correct but
/// whose content is wrong: non-finite tensors, an edited config, a renamed copy.
final class CheckpointContentTests: XCTestCase {
    /// A snapshot with NaN (or ±∞) in a parameter, an optimizer buffer, and the running
    /// baseline, encoded by the library's own encoder (so every CRC is right), is rejected
    /// naming the tensor and the index within it.
    func testNonFiniteTensorsAreRejectedByName() throws {
        let good = try Fixture.snapshot()
        let tensors = good.config.parameterTensors
        XCTAssertGreaterThanOrEqual(tensors.count, 2)
        let second = tensors[1]
        var cases: [(TrainingSnapshot, String, Int)] = []
        var s = good; s.state.parameters[second.offset + 3] = .nan
        cases.append((s, "param." + second.name, 3))
        s = good; s.state.parameters[0] = -.infinity
        cases.append((s, "param." + tensors[0].name, 0))
        s = good; s.state.optimizerBuffers[1].values[5] = .infinity
        cases.append((s, s.state.optimizerBuffers[1].name, 5))
        for (snap, name, index) in cases {
            let bytes = try CheckpointEncoder(chunkBytes: 256, createdUnixMs: 0).encode(snap)
            XCTAssertThrowsError(try CheckpointDecoder.decode(bytes)) { e in
                guard case CheckpointError.nonFiniteValue(let t, let i, _)? = e as? CheckpointError else {
                    return XCTFail("expected nonFiniteValue, got \(e)")
                }
                XCTAssertEqual(t, name); XCTAssertEqual(i, index)
                XCTAssertTrue("\(e)".contains("resume from an older checkpoint"), "\(e)")
            }
        }
        s = good; s.state.runningBaseline = .nan
        let bytes = try CheckpointEncoder(chunkBytes: 256, createdUnixMs: 0).encode(s)
        XCTAssertThrowsError(try CheckpointDecoder.decode(bytes)) { XCTAssertTrue("\($0)".contains("running_baseline"), "\($0)") }
        XCTAssertNoThrow(try CheckpointDecoder.decode(try CheckpointEncoder(chunkBytes: 256, createdUnixMs: 0).encode(good)))
    }

    /// A copy named for another step is refused by `load` (so by `checkpoint verify`), and
    /// `--resume auto` takes the checkpoint with the highest step in its header, reporting
    /// the renamed copy: `ckpt-9000000000` holding step 3 is not taken over step 6.
    func testResumeAutoRanksByHeaderStepAndReportsRenamedCopies() throws {
        let sink = CapturingSink()
        let config = Fixture.config(steps: 6)
        _ = try TrainingRun(config: { var c = config; c.checkpointEvery = 3; return c }(), runDirectory: nil, quiet: true,
                            checkpointSink: sink).run(communicator: SingleProcessCommunicator())
        let steps = sink.all.map(\.state.step)
        XCTAssertTrue(steps.contains(3) && steps.contains(6), "checkpoints at \(steps)")
        let dir = Fixture.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let writer = try CheckpointWriter(directory: dir, keep: 10)
        for snap in sink.all where [3, 6].contains(snap.state.step) { _ = try writer.write(snap) }
        let copy = dir + "/ckpt-9000000000.capgckpt"
        try FileManager.default.copyItem(atPath: dir + "/" + CheckpointFormat.fileName(step: 3), toPath: copy)

        XCTAssertThrowsError(try CheckpointReader.load(copy)) { e in
            XCTAssertEqual(e as? CheckpointError, .fileNameStepMismatch(path: copy, nameStep: 9_000_000_000, headerStep: 3))
            XCTAssertTrue("\(e)".contains("ckpt-0000000003.capgckpt"), "\(e)")
        }
        let found = try XCTUnwrap(try CheckpointReader.newestValid(in: dir, compatibleWith: nil))
        XCTAssertEqual(found.loaded.checkpoint.snapshot.state.step, 6)
        XCTAssertEqual(found.skipped.count, 1)
        XCTAssertTrue(found.skipped[0].contains("ckpt-9000000000.capgckpt") && found.skipped[0].contains("step 3"), "\(found.skipped)")
    }

    /// Editing the config JSON of a checkpoint (and re-encoding, so the CRCs match) without
    /// its hash is caught by the header's config_hash.
    func testEditedConfigIsCaughtByConfigHash() throws {
        let good = try Fixture.snapshot()
        let bytes = try CheckpointEncoder(chunkBytes: 256, createdUnixMs: 0).encode(good)
        // Patch one hex digit of the stored hash (same length) and recompute the CRCs.
        let hash = Array(good.config.trajectoryHash.utf8)
        let start = try XCTUnwrap(firstIndex(of: hash, in: bytes))
        var forged = bytes
        forged[start] = forged[start] == UInt8(ascii: "0") ? UInt8(ascii: "1") : UInt8(ascii: "0")
        forged = CheckpointReseal.reseal(forged)
        XCTAssertThrowsError(try CheckpointDecoder.decode(forged)) { e in
            XCTAssertTrue("\(e)".contains("config_hash"), "\(e)")
        }
    }

    private func firstIndex(of needle: [UInt8], in hay: [UInt8]) -> Int? {
        guard hay.count >= needle.count else { return nil }
        for i in 0...(hay.count - needle.count) where hay[i..<(i + needle.count)].elementsEqual(needle) { return i }
        return nil
    }
}
