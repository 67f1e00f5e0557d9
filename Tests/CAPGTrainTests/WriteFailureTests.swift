import Foundation
import XCTest

/// Write failures are errors that name the path and the reason, never traps; the training
/// state is saved in a final checkpoint when the checkpoint directory still takes writes, and
/// metric files keep whole lines only.
extension CLITests {
    /// metrics.jsonl on a "full disk" (/dev/full answers every write with ENOSPC): exit 1 with
    /// the path and "No space left on device", and a final checkpoint (on another disk) that
    /// verifies. Before: SIGILL (exit 132) from FileHandle.write, no checkpoint.
    func testFullDiskWhileWritingMetricsFailsCleanlyWithACheckpoint() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("capg-full-\(UUID().uuidString)").path
        let ckpt = dir + "-ckpt"
        defer { try? FileManager.default.removeItem(atPath: dir); try? FileManager.default.removeItem(atPath: ckpt) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: dir + "/metrics.jsonl", withDestinationPath: "/dev/full")
        let r = try run(["train", "--items", "200", "--k", "5", "--batch-size", "4", "--steps", "20",
                         "--set", "eval_queries=8", "--checkpoint-dir", ckpt, "--run-dir", dir, "--quiet",
                         "--resume", "auto"])  // the planted metrics file makes the directory non-empty
        XCTAssertEqual(r.code, 1, r.err)
        XCTAssertTrue(r.err.contains("metrics.jsonl"), r.err)
        XCTAssertTrue(r.err.contains("No space left on device"), r.err)
        XCTAssertTrue(r.err.contains("a final checkpoint of step 1 was written"), r.err)
        let v = try run(["checkpoint", "verify", ckpt])
        XCTAssertEqual(v.code, 0, v.err)
    }

    /// A run directory that cannot be created names the path and the reason.
    func testUnwritableRunDirectoryIsNamed() throws {
        let r = try run(["train", "--items", "200", "--k", "5", "--batch-size", "4", "--steps", "2",
                         "--set", "eval_queries=8", "--run-dir", "/proc/capg-no-such-dir/x", "--quiet"])
        XCTAssertEqual(r.code, 1, r.err)
        XCTAssertTrue(r.err.contains("/proc/capg-no-such-dir/x"), r.err)
        XCTAssertFalse(r.err.contains("NSCocoaErrorDomain"), r.err)
    }
}

/// Sizes are checked before anything is allocated.
extension CLITests {
    /// A run that cannot fit any machine this project runs on (≈ 1 TB per rank) is refused
    /// with exit 64, the estimate and what to change — not a trap in an allocation.
    func testRunThatCannotFitIsRefusedWithTheEstimate() throws {
        let r = try run(["train", "--items", "1000000000", "--dim", "64", "--steps", "1", "--run-dir",
                         FileManager.default.temporaryDirectory.appendingPathComponent("capg-mem-\(UUID().uuidString)").path])
        XCTAssertEqual(r.code, 64, r.err)
        XCTAssertTrue(r.err.contains("needs an estimated"), r.err)
        XCTAssertTrue(r.err.contains("--item-shards"), r.err)
    }

    /// Sizes whose byte counts overflow 64 bits are named, not trapped on.
    func testOverflowingSizesAreRejected() throws {
        let r = try run(["train", "--dim", "4611686018427387904", "--steps", "1", "--run-dir", "/tmp/capg-never"])
        XCTAssertEqual(r.code, 64, r.err)
        XCTAssertTrue(r.err.contains("overflow") || r.err.contains("dim must be"), r.err)
    }
}
