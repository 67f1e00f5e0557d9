import CAPGTrain
import Foundation
import XCTest

/// Run directory safety: an earlier run's directory is refused unless the run resumes or
/// overwrites it, and the lock on `capg.lock` keeps two trainers out of one directory.
final class RunDirectoryTests: XCTestCase {
    /// The guard: an empty or unrelated directory passes, an earlier run is refused with a
    /// message naming --resume and --overwrite, --resume leaves it, --overwrite removes only
    /// the run's own files.
    func testGuardRefusesEarlierRunUnlessResumeOrOverwrite() throws {
        let dir = Fixture.tempDir(), ckpt = dir + "/checkpoints"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertNoThrow(try RunDirectoryGuard.prepare(directory: dir, checkpointDirectory: ckpt, policy: .fresh))
        try Data("notes".utf8).write(to: URL(fileURLWithPath: dir + "/notes.txt"))
        XCTAssertNoThrow(try RunDirectoryGuard.prepare(directory: dir, checkpointDirectory: ckpt, policy: .fresh))

        try FileManager.default.createDirectory(atPath: ckpt, withIntermediateDirectories: true)
        for f in ["summary.json", "metrics.jsonl", "checkpoints/ckpt-0000000010.capgckpt", "checkpoints/latest",
                  "checkpoints/ckpt-0000000020.capgckpt.superseded"] {
            try Data("x".utf8).write(to: URL(fileURLWithPath: dir + "/" + f))
        }
        XCTAssertThrowsError(try RunDirectoryGuard.prepare(directory: dir, checkpointDirectory: ckpt, policy: .fresh)) { e in
            guard case .notEmpty(_, let found)? = e as? RunDirectoryError else { return XCTFail("\(e)") }
            XCTAssertEqual(found.first, "metrics.jsonl")
            let m = "\(e)"
            XCTAssertTrue(m.contains("--resume auto") && m.contains("--overwrite"), m)
        }
        XCTAssertEqual(try RunDirectoryGuard.prepare(directory: dir, checkpointDirectory: ckpt, policy: .resume), [])
        XCTAssertEqual(RunDirectoryGuard.earlierRunFiles(directory: dir, checkpointDirectory: ckpt).count, 5)
        let removed = try RunDirectoryGuard.prepare(directory: dir, checkpointDirectory: ckpt, policy: .overwrite)
        XCTAssertEqual(removed.count, 5)
        XCTAssertEqual(RunDirectoryGuard.earlierRunFiles(directory: dir, checkpointDirectory: ckpt), [])
        XCTAssertTrue(FileManager.default.fileExists(atPath: dir + "/notes.txt"), "unrelated files are kept")
        XCTAssertNoThrow(try RunDirectoryGuard.prepare(directory: dir, checkpointDirectory: ckpt, policy: .fresh))
    }

    /// Two locks on one directory (two open file descriptions, as two processes would
    /// have): the second fails naming the first's pid and host; after release it succeeds.
    func testLockIsExclusiveAndNamesTheHolder() throws {
        let dir = Fixture.tempDir() + "/run"
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let first = try RunDirectoryLock(directory: dir)
        let text = try String(contentsOfFile: dir + "/capg.lock", encoding: .utf8)
        XCTAssertTrue(text.hasPrefix("pid \(getpid())\nhost "), text)
        XCTAssertThrowsError(try RunDirectoryLock(directory: dir)) { e in
            guard case .locked(_, _, let holder)? = e as? RunDirectoryError else { return XCTFail("\(e)") }
            XCTAssertTrue(holder.hasPrefix("pid \(getpid()) on host "), holder)
            XCTAssertTrue("\(e)".contains("--run-dir"), "\(e)")
        }
        first.release()
        XCTAssertNoThrow(try RunDirectoryLock(directory: dir))
    }
}

/// The same through the built `capg` (helpers of CheckpointProcessTests).
extension CheckpointProcessTests {
    /// A second `capg train` into a finished run's directory is refused (exit 1, the
    /// message names --resume and --overwrite); --overwrite starts over (the result equals
    /// a run in a fresh directory); --resume auto continues; --overwrite with --resume is a
    /// usage error; --help explains --overwrite.
    func testRunDirectoryOfAnEarlierRunIsRefusedUnlessResumeOrOverwrite() throws {
        let dir = tempDir(), fresh = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir); try? FileManager.default.removeItem(atPath: fresh) }
        XCTAssertEqual(try run(nil, common + ["--steps", "4", "--seed", "3", "--run-dir", dir]).code, 0)
        let again = try run(nil, common + ["--steps", "4", "--run-dir", dir])
        XCTAssertEqual(again.code, 1, again.out)
        XCTAssertTrue(again.err.contains("already holds an earlier run") && again.err.contains("--resume auto")
                      && again.err.contains("--overwrite"), again.err)
        XCTAssertEqual(try summary(dir)["steps"] as? Int, 4, "the refused run must not touch the earlier run")

        let o = try run(nil, common + ["--steps", "6", "--run-dir", dir, "--overwrite"])
        XCTAssertEqual(o.code, 0, o.err)
        XCTAssertEqual(try run(nil, common + ["--steps", "6", "--run-dir", fresh]).code, 0)
        XCTAssertEqual(try summary(dir)["param_fingerprint"] as? String, try summary(fresh)["param_fingerprint"] as? String)
        XCTAssertTrue(try summary(dir)["resumed_from_step"] is NSNull, "overwrite starts at step 0")

        let r = try run(nil, common + ["--steps", "8", "--run-dir", dir, "--resume", "auto"])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertEqual(try summary(dir)["resumed_from_step"] as? Int, 6)

        let both = try run(nil, common + ["--run-dir", dir, "--resume", "auto", "--overwrite"])
        XCTAssertEqual(both.code, 64, both.err)
        let help = try run(nil, ["train", "--help"])
        XCTAssertTrue(help.out.contains("--overwrite"), help.out)
    }

    /// Two trainers on one run directory: while the first (np = 2, rank 0 holds the lock)
    /// runs, a second one fails at once naming the first's pid and host, and leaves the
    /// first's files alone; the first then stops cleanly on SIGTERM and the directory can
    /// be resumed.
    func testSecondTrainerOnTheSameRunDirectoryIsRefused() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (p, out) = try start(2, common + ["--steps", "100000", "--checkpoint-every", "0", "--run-dir", dir])
        var holder: Int32?
        let t0 = Date()
        while holder == nil && Date().timeIntervalSince(t0) < 60 && p.isRunning {
            Thread.sleep(forTimeInterval: 0.1)
            let text = (try? String(contentsOfFile: dir + "/capg.lock", encoding: .utf8)) ?? ""
            holder = text.split(separator: "\n").first.flatMap { $0.hasPrefix("pid ") ? Int32($0.dropFirst(4)) : nil }
        }
        let pid = try XCTUnwrap(holder, "the first trainer did not write its lock file")
        XCTAssertEqual(rank(of: pid), 0, "rank 0 holds the lock")
        let second = try run(nil, common + ["--steps", "5", "--run-dir", dir, "--resume", "auto"])
        XCTAssertEqual(second.code, 1, second.out)
        XCTAssertTrue(second.err.contains("is in use by another capg train (pid \(pid) on host "), second.err)
        XCTAssertTrue(p.isRunning, "the first trainer keeps running")
        kill(pid, SIGTERM)
        let first = finish(p, out, timeLimit: 60)
        XCTAssertEqual(first.code, 75, first.err)
        let stopped = try XCTUnwrap(try summary(dir)["steps"] as? Int)
        let resumed = try run(nil, common + ["--steps", String(stopped + 2), "--run-dir", dir, "--resume", "auto"])
        XCTAssertEqual(resumed.code, 0, "the lock is released when its holder exits: \(resumed.err)")
    }
}
