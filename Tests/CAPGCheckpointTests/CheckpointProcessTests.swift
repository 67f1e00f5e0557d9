import Foundation
import XCTest
@testable import CAPGCheckpoint

/// The checkpoint life cycle through the built `capg` binary, alone and under a real
/// `mpirun` (as MPITests does): bitwise resume, resume at another rank count, `kill -9`
/// at random instants, SIGTERM/SIGUSR1 → checkpoint and exit 75.
final class CheckpointProcessTests: XCTestCase {
    var binary: String {
        var dir = Bundle(for: CheckpointProcessTests.self).bundleURL.deletingLastPathComponent()
        if !FileManager.default.fileExists(atPath: dir.appendingPathComponent("capg").path) {
            dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        }
        return dir.appendingPathComponent("capg").path
    }

    struct Outcome { var code: Int32; var out: String; var err: String }

    /// Starts `capg args` (under `mpirun -np np` when np is given) with output to temp files.
    func start(_ np: Int?, _ args: [String]) throws -> (Process, URL) {
        let p = Process()
        if let np {
            p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            p.arguments = ["mpirun", "-np", String(np), "--oversubscribe", binary] + args
        } else {
            p.executableURL = URL(fileURLWithPath: binary)
            p.arguments = args
        }
        var env = ProcessInfo.processInfo.environment
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
        env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        env["OMPI_MCA_rmaps_base_oversubscribe"] = "1"
        env["OPENBLAS_NUM_THREADS"] = "1"
        p.environment = env
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("capg-ckpt-\(UUID().uuidString).out")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        FileManager.default.createFile(atPath: out.path + ".err", contents: nil)
        p.standardOutput = try FileHandle(forWritingTo: out)
        p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: out.path + ".err"))
        try p.run()
        return (p, out)
    }

    /// Waits (at most `timeLimit` s: a hang fails the test) and collects the output.
    func finish(_ p: Process, _ out: URL, timeLimit: Double = 120) -> Outcome {
        let t0 = Date()
        while p.isRunning {
            if Date().timeIntervalSince(t0) > timeLimit {
                p.terminate(); p.waitUntilExit()
                XCTFail("\(p.arguments ?? []) exceeded \(timeLimit)s: a hang")
                break
            }
            Thread.sleep(forTimeInterval: 0.02)
        }
        p.waitUntilExit()
        defer { try? FileManager.default.removeItem(at: out); try? FileManager.default.removeItem(atPath: out.path + ".err") }
        return Outcome(code: p.terminationStatus, out: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
                       err: (try? String(contentsOfFile: out.path + ".err", encoding: .utf8)) ?? "")
    }

    func run(_ np: Int?, _ args: [String]) throws -> Outcome {
        let (p, out) = try start(np, args)
        return finish(p, out)
    }

    func tempDir() -> String { FileManager.default.temporaryDirectory.appendingPathComponent("capg-ckpt-\(UUID().uuidString)").path }

    func summary(_ dir: String) throws -> [String: Any] {
        try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/summary.json"))) as! [String: Any]
    }

    func column(_ dir: String, _ key: String) throws -> [Double] {
        try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").compactMap {
            (try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any])[key] as? Double
        }
    }

    let common = ["train", "--estimator", "capg", "--items", "300", "--k", "10", "--batch-size", "6", "--eval-every", "5",
                  "--check-every", "1", "--set", "eval_queries=30", "--quiet"]

    /// 2T steps uninterrupted vs T steps + resume for T more, at np = 1 and np = 2: the same
    /// param_fingerprint, the same metrics rows, and the summary counts the whole run.
    func testResumeIsBitwiseIdenticalAtSameRankCount() throws {
        for np in [1, 2] {
            let full = tempDir(), split = tempDir()
            defer { try? FileManager.default.removeItem(atPath: full); try? FileManager.default.removeItem(atPath: split) }
            let a = try run(np, common + ["--steps", "16", "--checkpoint-every", "0", "--run-dir", full])
            XCTAssertEqual(a.code, 0, a.err)
            let b = try run(np, common + ["--steps", "8", "--checkpoint-every", "4", "--run-dir", split])
            XCTAssertEqual(b.code, 0, b.err)
            let c = try run(np, common + ["--steps", "16", "--checkpoint-every", "4", "--run-dir", split, "--resume", "auto"])
            XCTAssertEqual(c.code, 0, c.err)
            let s = try summary(split)
            XCTAssertEqual(s["param_fingerprint"] as? String, try summary(full)["param_fingerprint"] as? String, "np=\(np)")
            XCTAssertEqual(s["final_value"] as? Double, try summary(full)["final_value"] as? Double, "np=\(np)")
            XCTAssertEqual(s["resumed_from_step"] as? Int, 8)
            XCTAssertEqual(s["steps"] as? Int, 16)
            XCTAssertEqual(s["replica_checks_passed"] as? Int, 16)
            XCTAssertEqual(try column(split, "mean_reward"), try column(full, "mean_reward"), "np=\(np): metrics rows")
        }
    }

    /// A checkpoint written by 1 rank resumes on 2 ranks, continues (the step count goes
    /// on, replicas agree after every step) and keeps learning.
    func testResumeOnDifferentRankCountContinuesAndLearns() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let a = try run(1, common + ["--steps", "10", "--run-dir", dir])
        XCTAssertEqual(a.code, 0, a.err)
        let atCheckpoint = try summary(dir)["final_normalized_value"] as! Double
        let b = try run(2, common + ["--steps", "60", "--run-dir", dir, "--resume", "auto"])
        XCTAssertEqual(b.code, 0, b.err)
        let s = try summary(dir)
        XCTAssertEqual(s["ranks"] as? Int, 2)
        XCTAssertEqual(s["resumed_from_step"] as? Int, 10)
        XCTAssertEqual(s["steps"] as? Int, 60)
        XCTAssertEqual(s["replica_checks_passed"] as? Int, 60)
        let final = s["final_normalized_value"] as! Double
        XCTAssertGreaterThan(final, atCheckpoint, "resumed at np=2 but did not learn")
        XCTAssertGreaterThan(final, 0.2)
    }

    /// 20 trials: `kill -9` the trainer (checkpointing every step) at a random instant
    /// (fixed seed); after each, `capg checkpoint verify latest` passes and the next trial
    /// resumes from it (steps never go back). Finally a resume to step S gives bitwise the
    /// parameters of an uninterrupted S-step run.
    func testKillNineAtRandomInstantsNeverLosesTheCheckpoint() throws {
        try killNineTrials(["train", "--items", "3000", "--dim", "16", "--k", "10", "--batch-size", "4", "--check-every", "0",
                            "--set", "eval_queries=8", "--set", "eval_every=1000", "--quiet"], trials: 20)
    }

    /// The same under item sharding (mpirun -np 2, S = 2): rank 0 writes while rank 1 streams
    /// its shard to it; killing the writer at a random instant never leaves a committed
    /// checkpoint that fails to verify, and resumes reach the uninterrupted parameters.
    func testKillNineUnderItemShardingNeverLosesTheCheckpoint() throws {
        try killNineTrials(["train", "--items", "20000", "--dim", "16", "--k", "10", "--batch-size", "4", "--check-every", "0",
                            "--item-shards", "2", "--set", "eval_queries=8", "--set", "eval_every=1000", "--quiet"],
                           trials: 8, np: 2)
    }

    /// The kill -9 trial on `train` (without --steps, --run-dir or checkpoint options): runs
    /// `trials` times with checkpoints every step, killed at a random instant after its first
    /// own checkpoint; `latest` must verify after every kill, every later trial resumes and
    /// advances, and a final resume to S steps equals an uninterrupted S-step run bitwise.
    /// `np`: run every segment under `mpirun -np np` and kill world rank 0 (the checkpoint
    /// writer) with SIGKILL; mpirun then ends the job. nil: a single process, killed itself.
    func killNineTrials(_ train: [String], trials: Int, np: Int? = nil, file: StaticString = #filePath, line: UInt = #line) throws {
        let dir = tempDir(), ref = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir); try? FileManager.default.removeItem(atPath: ref) }
        let args = train + ["--checkpoint-every", "1", "--keep-checkpoints", "2"]
        var seed: UInt64 = 0x5EED
        func uniform() -> Double {
            seed &+= 0x9E37_79B9_7F4A_7C15
            var z = seed
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9; z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return Double((z ^ (z >> 31)) >> 11) / Double(1 << 53)
        }
        var steps: [Int] = [], midWrite = 0, advanced = 0
        for trial in 0..<trials {
            let (p, out) = try start(np, args + ["--run-dir", dir, "--steps", "100000"] + (trial == 0 ? [] : ["--resume", "auto"]))
            // The random instant is drawn once the trainer has written a checkpoint of its own
            // (the `latest` pointer changed), so a slow start on a loaded machine cannot make
            // a trial end before it wrote anything: the kill lands in steady-state checkpointing.
            let before = try? String(contentsOfFile: dir + "/checkpoints/latest", encoding: .utf8)
            let deadline = Date().addingTimeInterval(120)
            while Date() < deadline, p.isRunning,
                  (try? String(contentsOfFile: dir + "/checkpoints/latest", encoding: .utf8)) == before {
                Thread.sleep(forTimeInterval: 0.01)
            }
            Thread.sleep(forTimeInterval: 0.5 * uniform())
            if np == nil {
                kill(p.processIdentifier, SIGKILL)
            } else if let writer = children(of: p.processIdentifier).first(where: { rank(of: $0) == 0 }) {
                kill(writer, SIGKILL)
            }
            let o = finish(p, out)
            if np == nil {
                XCTAssertEqual(o.code, SIGKILL, "trial \(trial) ended before the kill: \(o.err)", file: file, line: line)
            } else {
                XCTAssertNotEqual(o.code, 0, "trial \(trial) ended before the kill: \(o.err)", file: file, line: line)
            }
            let names = try FileManager.default.contentsOfDirectory(atPath: dir + "/checkpoints")
            if names.contains(where: { $0.contains(".tmp-") }) { midWrite += 1 }
            if steps.isEmpty, !names.contains("latest") { continue }   // killed before the first checkpoint
            let v = try run(nil, ["checkpoint", "verify", dir + "/checkpoints/latest"])
            XCTAssertEqual(v.code, 0, "trial \(trial): latest does not verify: \(v.err)", file: file, line: line)
            let step = Int(v.out.components(separatedBy: "(step ")[1].prefix { $0.isNumber })!
            if let last = steps.last {
                XCTAssertGreaterThanOrEqual(step, last, "trial \(trial): resumed backwards", file: file, line: line)
                if step > last { advanced += 1 }
            }
            steps.append(step)
        }
        print("kill -9 trials: \(trials) kills; latest verified after each; checkpoint steps \(steps); \(midWrite) kill(s) left a temp file (killed mid-write), \(advanced) resumed trials advanced")
        XCTAssertEqual(steps.count, trials, file: file, line: line)
        XCTAssertEqual(advanced, trials - 1, "every trial after the first resumes and makes progress", file: file, line: line)
        let target = (steps.last ?? 0) + 3
        let r = try run(np, args + ["--run-dir", dir, "--steps", String(target), "--resume", "auto"])
        XCTAssertEqual(r.code, 0, r.err, file: file, line: line)
        let u = try run(np, args + ["--run-dir", ref, "--steps", String(target), "--checkpoint-every", "0"])
        XCTAssertEqual(u.code, 0, u.err, file: file, line: line)
        XCTAssertEqual(try summary(dir)["param_fingerprint"] as? String, try summary(ref)["param_fingerprint"] as? String,
                       "\(trials) kills and resumes must give the uninterrupted parameters", file: file, line: line)
    }

    /// The rank of an mpirun child process (from its environment).
    func rank(of pid: Int32) -> Int? {
        guard let env = try? Data(contentsOf: URL(fileURLWithPath: "/proc/\(pid)/environ")) else { return nil }
        for entry in env.split(separator: 0) {
            let s = String(decoding: entry, as: UTF8.self)
            if s.hasPrefix("OMPI_COMM_WORLD_RANK=") { return Int(s.dropFirst(21)) }
        }
        return nil
    }

    func children(of pid: Int32) -> [Int32] {
        let text = (try? String(contentsOfFile: "/proc/\(pid)/task/\(pid)/children", encoding: .utf8)) ?? ""
        return text.split(separator: " ").compactMap { Int32($0) }
    }

    /// SIGTERM to rank 1 only (of 2): every rank stops after the same step, rank 0 writes a
    /// checkpoint, the job exits 75, and a resume completes the run. SIGUSR1 to a single
    /// process does the same.
    func testStopSignalWritesCheckpointAndExits75() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let args = common + ["--steps", "100000", "--checkpoint-every", "0", "--run-dir", dir]
        let (p, out) = try start(2, args)
        var target: Int32?
        let t0 = Date()
        while target == nil && Date().timeIntervalSince(t0) < 30 {
            Thread.sleep(forTimeInterval: 0.1)
            target = children(of: p.processIdentifier).first { rank(of: $0) == 1 }
        }
        let victim = try XCTUnwrap(target, "rank 1 not found")
        Thread.sleep(forTimeInterval: 1.5)
        kill(victim, SIGTERM)
        let o = finish(p, out, timeLimit: 60)
        XCTAssertEqual(o.code, 75, o.err)
        XCTAssertTrue(o.err.contains("stop requested"), o.err)
        let s = try summary(dir)
        XCTAssertEqual(s["completed"] as? Bool, false)
        let stopped = try XCTUnwrap(s["steps"] as? Int)
        let v = try run(nil, ["checkpoint", "verify", dir + "/checkpoints"])
        XCTAssertEqual(v.code, 0, v.err)
        XCTAssertTrue(v.out.contains("(step \(stopped),"), v.out)

        let r = try run(2, common + ["--steps", String(stopped + 5), "--run-dir", dir, "--resume", "auto"])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertEqual(try summary(dir)["completed"] as? Bool, true)
        XCTAssertEqual(try summary(dir)["resumed_from_step"] as? Int, stopped)

        // SIGUSR1 to a single process.
        let (q, qout) = try start(nil, args + ["--resume", "auto"])
        Thread.sleep(forTimeInterval: 1.0)
        kill(q.processIdentifier, SIGUSR1)
        let qo = finish(q, qout, timeLimit: 60)
        XCTAssertEqual(qo.code, 75, qo.err)
        XCTAssertTrue(qo.err.contains("SIGUSR1"), qo.err)
        XCTAssertEqual(try run(nil, ["checkpoint", "verify", dir + "/checkpoints"]).code, 0)
    }

    /// `inspect --json` reports the header; `verify` fails with a reason on a damaged file.
    func testInspectAndVerifyCommands() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertEqual(try run(nil, common + ["--steps", "5", "--run-dir", dir]).code, 0)
        let i = try run(nil, ["checkpoint", "inspect", dir + "/checkpoints", "--json"])
        XCTAssertEqual(i.code, 0, i.err)
        let obj = try JSONSerialization.jsonObject(with: Data(i.out.utf8)) as! [String: Any]
        XCTAssertEqual(obj["step"] as? Int, 5)
        XCTAssertEqual(obj["schema_version"] as? Int, 1)
        XCTAssertEqual((obj["optimizer"] as? [String: Any])?["updates"] as? Int, 5)
        XCTAssertEqual(obj["param_fingerprint"] as? String, try summary(dir)["param_fingerprint"] as? String)
        let human = try run(nil, ["checkpoint", "inspect", dir + "/checkpoints"])
        XCTAssertTrue(human.out.contains("tensor adam.v"), human.out)

        let file = dir + "/checkpoints/ckpt-0000000005.capgckpt"
        let h = try FileHandle(forUpdating: URL(fileURLWithPath: file))
        try h.seek(toOffset: 200); h.write(Data([0xFF, 0x00, 0xFF])); try h.close()
        let v = try run(nil, ["checkpoint", "verify", file])
        XCTAssertEqual(v.code, 1)
        XCTAssertTrue(v.err.contains("checksum mismatch"), v.err)
        let n = try run(nil, ["checkpoint", "verify", dir + "/summary.json"])
        XCTAssertEqual(n.code, 1)
        XCTAssertTrue(n.err.contains("not a capg checkpoint"), n.err)
        let help = try run(nil, ["train", "--help"])
        XCTAssertTrue(help.out.contains("75"), "train --help documents exit code 75")
        for flag in ["--resume", "--checkpoint-every", "--keep-checkpoints", "--checkpoint-dir"] {
            XCTAssertTrue(help.out.contains(flag), flag)
        }
    }

    /// A checkpoint written by `capg train`, then forged with a NaN parameter (decoded,
    /// patched, re-encoded by the library, so every CRC matches): `checkpoint verify`
    /// exits 1 naming the tensor and index, and `--resume auto` falls back to the older,
    /// finite checkpoint instead of failing later with "non-finite gradient".
    func testVerifyRejectsForgedNonFiniteCheckpoint() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        XCTAssertEqual(try run(nil, common + ["--steps", "4", "--checkpoint-every", "2", "--keep-checkpoints", "5", "--run-dir", dir]).code, 0)
        let file = dir + "/checkpoints/ckpt-0000000004.capgckpt"
        var snap = try CheckpointDecoder.decode(POSIXFile.readAll(file)).snapshot
        let tensor = snap.config.parameterTensors[1]
        snap.state.parameters[tensor.offset + 2] = .nan
        try Data(CheckpointEncoder().encode(snap)).write(to: URL(fileURLWithPath: file))
        let v = try run(nil, ["checkpoint", "verify", file])
        XCTAssertEqual(v.code, 1)
        XCTAssertTrue(v.err.contains("tensor param.\(tensor.name) holds nan at index 2"), v.err)
        let r = try run(nil, common + ["--steps", "6", "--checkpoint-every", "2", "--run-dir", dir, "--resume", "auto"])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertTrue((r.out + r.err).contains("ckpt-0000000004.capgckpt"), "the skipped file is reported: \(r.out) \(r.err)")
    }
}
