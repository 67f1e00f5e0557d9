import Foundation
import XCTest

/// Runs the built `capg` under a real `mpirun` (Open MPI) with a hard time limit, for the
/// multi-rank tests.
struct MPIOutcome {
    var code: Int32; var out: String; var err: String; var seconds: Double

    /// `err` without mpirun's own notices (blocks framed by lines of dashes: "Primary job
    /// terminated normally…", "exited on signal 9…"). mpirun forwards a rank's stderr in
    /// chunks and may print such a block between two chunks of one line (seen in CI:
    /// "item_shard<block>s (3) must divide"), so a rank's message is matched in this.
    var rankErr: String {
        err.replacingOccurrences(of: #"-{20,}\n[\s\S]*?-{20,}\n"#, with: "", options: .regularExpression)
    }

    /// A rank printed `message` on stderr (found whole, or once mpirun's notices are cut out).
    func rankSaid(_ message: String) -> Bool { err.contains(message) || rankErr.contains(message) }
}

extension XCTestCase {
    var capgBinaryPath: String {
        var dir = Bundle(for: CLITests.self).bundleURL.deletingLastPathComponent()
        if !FileManager.default.fileExists(atPath: dir.appendingPathComponent("capg").path) {
            dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        }
        return dir.appendingPathComponent("capg").path
    }

    
    /// Runs `mpirun -np P capg …` with a hard time limit (a hang fails the test, it does not stall it).
    func mpirun(_ np: Int, _ args: [String], timeLimit: Double = 120, environment extra: [String: String] = [:]) throws -> MPIOutcome {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["mpirun", "-np", String(np), "--oversubscribe", capgBinaryPath] + args
        var env = ProcessInfo.processInfo.environment
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        env["OMPI_MCA_rmaps_base_oversubscribe"] = "1"
        env.merge(extra) { _, new in new }
        p.environment = env
        let outURL = FileManager.default.temporaryDirectory.appendingPathComponent("capg-mpi-\(UUID().uuidString).out")
        let errURL = outURL.appendingPathExtension("err")
        FileManager.default.createFile(atPath: outURL.path, contents: nil)
        FileManager.default.createFile(atPath: errURL.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: outURL); try? FileManager.default.removeItem(at: errURL) }
        p.standardOutput = try FileHandle(forWritingTo: outURL)
        p.standardError = try FileHandle(forWritingTo: errURL)
        let start = Date()
        try p.run()
        while p.isRunning {
            if Date().timeIntervalSince(start) > timeLimit {
                p.terminate(); p.waitUntilExit()
                XCTFail("mpirun -np \(np) \(args) exceeded \(timeLimit)s: a hang")
                break
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
        p.waitUntilExit()
        return MPIOutcome(code: p.terminationStatus,
                       out: (try? String(contentsOf: outURL, encoding: .utf8)) ?? "",
                       err: (try? String(contentsOf: errURL, encoding: .utf8)) ?? "",
                       seconds: Date().timeIntervalSince(start))
    }


    func tempDir() -> String {
        FileManager.default.temporaryDirectory.appendingPathComponent("capg-mpi-\(UUID().uuidString)").path
    }

    func summary(_ dir: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/summary.json"))) as! [String: Any]
    }

    func metricColumn(_ dir: String, _ key: String) throws -> [Double] {
        let text = try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8)
        return try text.split(separator: "\n").compactMap {
            (try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any])[key] as? Double
        }
    }

}

/// Finding the processes of a running job.
enum MPIProcesses {
    /// The pid of MPI rank `rank` of a running `capg train … --run-dir DIR` job (found through
    /// /proc: the command line names the run directory, the environment the rank), nil if none.
    static func rank(_ rank: Int, runDir: String) -> Int32? {
        let pids = ((try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []).compactMap { Int32($0) }
        for pid in pids {
            guard let cmd = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/cmdline")),
                  let env = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/environ")) else { continue }
            let args = cmd.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            guard args.contains("train"), args.contains(runDir), !(args.first ?? "").hasSuffix("mpirun") else { continue }
            let vars = env.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
            if vars.contains("OMPI_COMM_WORLD_RANK=\(rank)") { return pid }
        }
        return nil
    }
}

extension XCTestCase {
    /// Runs `body` on a background thread once `DIR/config.json` exists (the job is training)
    /// plus `delay` seconds.
    func whenTraining(runDir: String, delay: Double, _ body: @escaping @Sendable () -> Void) {
        Thread {
            let deadline = Date().addingTimeInterval(60)
            while !FileManager.default.fileExists(atPath: runDir + "/config.json") && Date() < deadline {
                Thread.sleep(forTimeInterval: 0.05)
            }
            Thread.sleep(forTimeInterval: delay)
            body()
        }.start()
    }
}
