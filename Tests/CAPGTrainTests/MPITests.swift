import Foundation
import XCTest

/// Multi-rank tests under a real `mpirun` (Open MPI), oversubscribing the 2-core machine.
final class MPITests: XCTestCase {
    let common = ["train", "--estimator", "capg", "--items", "300", "--k", "10", "--batch-size", "6", "--steps", "30",
                  "--eval-every", "10", "--check-every", "1", "--set", "eval_queries=30", "--quiet"]

    /// Same seed and global batch ⇒ the same metric trajectory for np = 1, 2, 3 (rewards
    /// identical, policy values within 1e-9: only float summation order differs), every
    /// rank holds identical parameters (fingerprint compared after every step), and two runs
    /// at the same np are bitwise identical.
    func testTrajectoryIsRankCountInvariant() throws {
        var rewards: [[Double]] = [], values: [[Double]] = [], prints: [Int: String] = [:]
        for np in [1, 2, 3] {
            let dir = tempDir()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let r = try mpirun(np, common + ["--run-dir", dir])
            XCTAssertEqual(r.code, 0, "np=\(np): \(r.err)")
            let s = try summary(dir)
            XCTAssertEqual(s["ranks"] as? Int, np)
            XCTAssertEqual(s["replica_checks_passed"] as? Int, 30, "np=\(np): replicas compared after every step")
            rewards.append(try metricColumn(dir, "mean_reward"))
            values.append(try metricColumn(dir, "value"))
            prints[np] = s["param_fingerprint"] as? String
        }
        for i in 1..<3 {
            XCTAssertEqual(rewards[i], rewards[0], "np=\(i + 1) rewards differ from np=1")
            XCTAssertEqual(values[i].count, values[0].count)
            for (a, b) in zip(values[i], values[0]) { XCTAssertEqual(a, b, accuracy: 1e-9) }
        }
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let again = try mpirun(2, common + ["--run-dir", dir])
        XCTAssertEqual(again.code, 0, again.err)
        XCTAssertEqual(try summary(dir)["param_fingerprint"] as? String, prints[2], "np=2 twice must be bitwise identical")
    }

    /// Collectives split into pieces of at most 7 elements (MPI counts are 32-bit, so large
    /// buffers must be chunked) give bitwise the same run as whole-buffer collectives.
    func testChunkedCollectivesGiveTheSameRun() throws {
        var prints: [String] = []
        for chunk in ["", "7"] {
            let dir = tempDir()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let r = try mpirun(2, common + ["--steps", "8", "--run-dir", dir],
                               environment: chunk.isEmpty ? [:] : ["CAPG_MPI_CHUNK_ELEMENTS": chunk])
            XCTAssertEqual(r.code, 0, r.err)
            prints.append(try summary(dir)["param_fingerprint"] as? String ?? "")
        }
        XCTAssertEqual(prints[0], prints[1])
        XCTAssertFalse(prints[0].isEmpty)
    }

    /// A rank that fails mid-run ends the whole job promptly, non-zero, with the rank named.
    func testFailingRankAbortsTheJob() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try mpirun(3, common + ["--steps", "1000", "--set", "inject_failure=1:5", "--run-dir", dir], timeLimit: 60)
        XCTAssertNotEqual(r.code, 0)
        XCTAssertLessThan(r.seconds, 30)
        XCTAssertTrue(r.rankSaid("rank 1 of 3: error: rank 1: injected failure at step 5"), r.err)
    }

    /// A rank killed outright (SIGKILL: no chance to call MPI_Abort) still ends the job
    /// promptly, non-zero, with mpirun naming the rank — nobody waits in a collective.
    func testKilledRankEndsTheJob() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let killer = Thread {
            // Wait until both ranks run (the run directory exists), then kill one of them.
            let deadline = Date().addingTimeInterval(30)
            while !FileManager.default.fileExists(atPath: dir + "/config.json") && Date() < deadline {
                Thread.sleep(forTimeInterval: 0.1)
            }
            Thread.sleep(forTimeInterval: 0.5)
            let p = Process()
            p.executableURL = URL(fileURLWithPath: "/usr/bin/pkill")
            p.arguments = ["-KILL", "-n", "-f", "capg train .*--run-dir \(dir)"]
            try? p.run(); p.waitUntilExit()
        }
        killer.start()
        let r = try mpirun(2, common + ["--steps", "100000", "--run-dir", dir], timeLimit: 60)
        XCTAssertNotEqual(r.code, 0)
        XCTAssertLessThan(r.seconds, 45)
        XCTAssertTrue((r.out + r.err).contains("exited on signal 9"), r.out + r.err)
    }

    /// A NaN gradient on one rank is caught on that rank and named.
    func testNaNGradientAbortsWithRankAndQuery() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try mpirun(2, common + ["--set", "inject_failure=1:3:nan", "--run-dir", dir], timeLimit: 60)
        XCTAssertNotEqual(r.code, 0)
        XCTAssertTrue(r.rankSaid("rank 1: non-finite (NaN/Inf) gradient at step 3"), r.err)
    }

    /// A configuration error under mpirun: reported once (by rank 0), non-zero exit, no hang.
    func testConfigErrorUnderMPIIsReportedOnce() throws {
        let r = try mpirun(2, ["train", "--items", "300", "--batch-size", "7", "--steps", "3", "--quiet"], timeLimit: 60)
        XCTAssertNotEqual(r.code, 0)
        let mentions = r.err.components(separatedBy: "must be divisible by the number of ranks").count - 1
        XCTAssertEqual(mentions, 1, r.err)
    }
}
