import Foundation
import XCTest

/// A rank that stops answering (SIGSTOP) must not hang the job: the others give up after
/// `--stall-timeout`, name the rank and the step, and end the job; a stop signal that arrives
/// meanwhile ends it with exit 75 and no checkpoint. Real `mpirun`, 2 ranks.
final class StallTests: XCTestCase {
    let common = ["train", "--items", "300", "--k", "10", "--batch-size", "6", "--steps", "1000000",
                  "--eval-every", "1000", "--checkpoint-every", "0", "--set", "eval_queries=30", "--quiet"]

    /// Times (monotonic enough for seconds) shared between the test and its signal thread.
    final class Stamp: @unchecked Sendable {
        private let lock = NSLock()
        private var value: Date?
        private var pidValue: Int32?
        func set(_ d: Date, pid: Int32?) { lock.lock(); value = d; pidValue = pid; lock.unlock() }
        var date: Date? { lock.lock(); defer { lock.unlock() }; return value }
        var pid: Int32? { lock.lock(); defer { lock.unlock() }; return pidValue }
    }

    /// True when `pid` exists and is not a zombie (a killed child whose parent, mpirun,
    /// exited before reaping it).
    static func isLiveProcess(_ pid: Int32) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(close, offsetBy: 2)]
        return state != "Z" && state != "X"
    }

    func testStoppedRankEndsTheJobNamingIt() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let stopped = Stamp()
        whenTraining(runDir: dir, delay: 1.0) {
            let pid = MPIProcesses.rank(1, runDir: dir)
            if let pid { kill(pid, SIGSTOP) }
            stopped.set(Date(), pid: pid)
        }
        let r = try mpirun(2, common + ["--stall-timeout", "4", "--run-dir", dir], timeLimit: 90)
        let end = Date()
        let pid = try XCTUnwrap(stopped.pid, "rank 1 was not found")
        defer { kill(pid, SIGKILL) }
        XCTAssertEqual(r.code, 1, r.err)
        XCTAssertTrue(r.rankSaid("rank(s) 1 did not arrive"), r.err)
        XCTAssertTrue(r.rankSaid("rank 0 of 2: stall: step "), r.err)
        let stallToExit = end.timeIntervalSince(try XCTUnwrap(stopped.date))
        print(String(format: "stall: SIGSTOP of rank 1 → job exit %d after %.1f s (stall_timeout 4 s)", r.code, stallToExit))
        XCTAssertLessThan(stallToExit, 4 + 3 + 15, "the job must end soon after the stall timeout")
        XCTAssertGreaterThan(stallToExit, 3.5, "it must not give up before the timeout")
        Thread.sleep(forTimeInterval: 0.5)
        XCTAssertFalse(Self.isLiveProcess(pid), "the stopped rank must be gone (MPI_Abort kills it)")
    }

    /// SIGTERM to the live rank while the other is stopped: the stop is honoured within the
    /// grace (stall_timeout / 2), no checkpoint can be agreed, exit 75 with the marker file.
    func testStopSignalDuringStallExits75WithoutCheckpoint() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let stopped = Stamp()
        whenTraining(runDir: dir, delay: 1.0) {
            let victim = MPIProcesses.rank(1, runDir: dir), live = MPIProcesses.rank(0, runDir: dir)
            if let victim { kill(victim, SIGSTOP) }
            stopped.set(Date(), pid: victim)
            Thread.sleep(forTimeInterval: 1.0)
            if let live { kill(live, SIGTERM) }
        }
        let r = try mpirun(2, common + ["--stall-timeout", "40", "--run-dir", dir], timeLimit: 90)
        let end = Date()
        let pid = try XCTUnwrap(stopped.pid, "rank 1 was not found")
        defer { kill(pid, SIGKILL) }
        XCTAssertEqual(r.code, 75, r.err)
        XCTAssertTrue(r.rankSaid("no checkpoint is written"), r.err)
        let waited = end.timeIntervalSince(try XCTUnwrap(stopped.date))
        print(String(format: "stall + SIGTERM: job exit %d after %.1f s (grace 20 s, stall_timeout 40 s)", r.code, waited))
        XCTAssertLessThan(waited, 35, "the stop must cut the 40 s stall timeout short")
        let marker = try String(contentsOfFile: dir + "/stopped", encoding: .utf8)
        XCTAssertTrue(marker.hasPrefix("75 "), marker)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/checkpoints/latest"))
    }
}
