import Foundation
import XCTest

/// Runs the built `capg` executable as a user would and checks exit codes and output.
final class CLITests: XCTestCase {
    var binary: URL {
        // The test bundle sits in the build products directory next to the executable.
        var dir = Bundle(for: CLITests.self).bundleURL.deletingLastPathComponent()
        if !FileManager.default.fileExists(atPath: dir.appendingPathComponent("capg").path) {
            dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        }
        return dir.appendingPathComponent("capg")
    }

    func run(_ args: [String]) throws -> (code: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = binary
        p.arguments = args
        let o = Pipe(), e = Pipe()
        p.standardOutput = o; p.standardError = e
        try p.run()
        let out = o.fileHandleForReading.readDataToEndOfFile()
        let err = e.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
    }

    func testHelpExplainsOptions() throws {
        let r = try run(["train", "--help"])
        XCTAssertEqual(r.code, 0)
        for flag in ["--items", "--dim", "--k", "--estimator", "--inclusion", "--baseline", "--batch-size", "--steps", "--lr", "--seed", "--run-dir", "--config", "--set",
                     "--lsr-mode", "--lsr-lr", "--lsr-alignment", "--scorer-command", "--scorer-socket", "--scorer-timeout"] {
            XCTAssertTrue(r.out.contains(flag), "help lacks \(flag)")
        }
    }

    func testBadValuesAreRejected() throws {
        for args in [["train", "--estimator", "ppo"], ["train", "--k", "0"], ["train", "--set", "bogus=1"],
                     ["train", "--items", "10", "--k", "11"], ["inclusion", "--scores", "1,x", "--k", "1"],
                     ["inclusion", "--scores", "1,2", "--k", "1", "--model", "magic"], ["variance", "--k", "5,-1"],
                     ["train", "--lsr-mode", "joint"],                 // learned LSR needs τ₂ > 0
                     ["train", "--scorer-command", "x", "--scorer-socket", "/tmp/s"],
                     ["variance", "--lsr-mode", "joint", "--lsr-temperature", "0.1"]] {
            let r = try run(args)
            XCTAssertNotEqual(r.code, 0, "\(args) should fail")
            XCTAssertFalse(r.err.isEmpty, "\(args) should explain the failure on stderr")
        }
    }

    func testInclusionJSON() throws {
        let r = try run(["inclusion", "--scores", "0.5,0,-1,2", "--k", "2", "--model", "exact", "--json"])
        XCTAssertEqual(r.code, 0, r.err)
        let obj = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any]
        XCTAssertEqual(obj["model"] as? String, "exact")
        XCTAssertEqual(obj["k"] as? Int, 2)
        let p = obj["p"] as! [Double]
        XCTAssertEqual(p.count, 4)
        XCTAssertEqual(p.reduce(0, +), 2, accuracy: 1e-9)
    }

    func testVarianceJSON() throws {
        let r = try run(["variance", "--items", "300", "--k", "5,20", "--samples", "20", "--contexts", "2",
                         "--reference-samples", "200", "--json"])
        XCTAssertEqual(r.code, 0, r.err)
        let rows = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [[String: Any]]
        XCTAssertEqual(rows.count, 6)
        for row in rows {
            for key in ["estimator", "inclusion", "k", "variance_scores", "variance_params", "cosine_to_reference", "snr"] {
                XCTAssertNotNil(row[key], key)
            }
        }
    }

    /// `--scores -1,2` (a value starting with '-') is a value, not an unknown option.
    func testInclusionAcceptsNegativeScores() throws {
        for args in [["inclusion", "--scores", "-1,2", "--k", "1", "--json"], ["inclusion", "--scores=-1,2", "--k", "1", "--json"]] {
            let r = try run(args)
            XCTAssertEqual(r.code, 0, "\(args): \(r.err)")
            let obj = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any]
            let p = obj["p"] as! [Double]
            XCTAssertEqual(p.count, 2)
            XCTAssertGreaterThan(p[1], p[0])
        }
    }

    /// `capg help NOSUCH` fails (64) naming the commands; a real topic still prints its help.
    func testHelpForUnknownCommandFails() throws {
        let bad = try run(["help", "NOSUCH"])
        XCTAssertEqual(bad.code, 64)
        XCTAssertTrue(bad.err.contains("no command 'NOSUCH'") && bad.err.contains("train"), bad.err)
        XCTAssertEqual(try run(["help", "checkpoint", "nosuch"]).code, 64)
        let good = try run(["help", "checkpoint", "inspect"])
        XCTAssertEqual(good.code, 0, good.err)
        XCTAssertTrue(good.out.contains("Verify a checkpoint"))
    }

    /// Every option's default appears once in --help (ArgumentParser appends "(default: …)"
    /// for options with a default value; help texts must not repeat it).
    func testHelpPrintsEachDefaultOnce() throws {
        for command in ["variance", "inclusion", "bench", "allreduce-bench", "eval", "retrieve", "export"] {
            let r = try run([command, "--help"])
            XCTAssertEqual(r.code, 0, r.err)
            let flat = r.out.replacingOccurrences(of: "\n", with: " ").split(separator: " ").joined(separator: " ")
            for line in flat.components(separatedBy: "--").dropFirst() where line.contains("(default: ") {
                XCTAssertFalse(line.contains("(default ") , "\(command): default printed twice in '--\(line)'")
            }
        }
        let r = try run(["variance", "--help"])
        XCTAssertEqual(r.out.components(separatedBy: "10,50,200").count - 1, 1, r.out)
    }

    /// `capg train --help` lists the LETOR label flags; a bad gain is a usage error.
    func testLabelFlags() throws {
        let r = try run(["train", "--help"])
        XCTAssertTrue(r.out.contains("--max-label") && r.out.contains("--gain"))
        let bad = try run(["train", "--data", "letor", "--train", "x", "--test", "y", "--gain", "cubic"])
        XCTAssertEqual(bad.code, 64)
        XCTAssertTrue(bad.err.contains("gain"), bad.err)
        let neg = try run(["train", "--data", "letor", "--train", "x", "--test", "y", "--max-label", "0"])
        XCTAssertEqual(neg.code, 64)
        XCTAssertTrue(neg.err.contains("max_label"), neg.err)
    }

    /// The result line's normalized value is the summary's number (one rule: `NormalizedValue`).
    func testResultLineNormalizedMatchesSummary() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("capg-cli-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try run(["train", "--items", "200", "--k", "5", "--batch-size", "4", "--steps", "4", "--eval-every", "2",
                         "--set", "eval_queries=10", "--run-dir", dir, "--quiet"])
        XCTAssertEqual(r.code, 0, r.err)
        let s = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/summary.json"))) as! [String: Any]
        let n = String(format: "%.3f", s["final_normalized_value"] as! Double)
        XCTAssertTrue(r.out.contains("normalized \(n)"), r.out)
        // A reward-blind LSR: the same number, flagged.
        let blind = try run(["train", "--items", "200", "--k", "5", "--batch-size", "4", "--steps", "2", "--eval-every", "2",
                             "--lsr-alignment", "0", "--set", "eval_queries=10", "--run-dir", dir + "/blind", "--quiet"])
        XCTAssertEqual(blind.code, 0, blind.err)
        let b = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/blind/summary.json"))) as! [String: Any]
        let nb = String(format: "%.3f", b["final_normalized_value"] as! Double)
        XCTAssertTrue(blind.out.contains("normalized \(nb)"), blind.out)
    }

    /// `checkpoint inspect` and `inspect --json` report the same frame count (header,
    /// chunks and trailer): 3 parameter + 2 Adam tensors in one chunk each → 7.
    func testInspectFrameCountAgrees() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("capg-cli-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let t = try run(["train", "--items", "50", "--k", "5", "--batch-size", "4", "--steps", "1", "--set", "eval_queries=4",
                         "--run-dir", dir, "--quiet"])
        XCTAssertEqual(t.code, 0, t.err)
        let text = try run(["checkpoint", "inspect", dir + "/checkpoints"])
        let json = try run(["checkpoint", "inspect", dir + "/checkpoints", "--json"])
        let obj = try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as! [String: Any]
        XCTAssertEqual(obj["frames"] as? Int, 7)
        XCTAssertTrue(text.out.contains(", 7 frames,"), text.out)
    }

    /// Issue 17 item 8 usage errors: each exits 64 with a message naming the culprit
    /// (before any work: none of these may start a run).
    func testBoundsAndMalformedInputsExit64() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("capg-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let boolean = dir.appendingPathComponent("bool.json"), twice = dir.appendingPathComponent("twice.json")
        try Data(#"{"steps": 2, "check_every": true}"#.utf8).write(to: boolean)
        try Data(#"{"lr": 0.1, "steps": 2, "lr": 0.01}"#.utf8).write(to: twice)
        let run = dir.appendingPathComponent("run").path
        let cases: [([String], String)] = [
            (["inclusion", "--scores", "1,,3", "--k", "1"], "value 2 is empty"),
            (["inclusion", "--scores", "1,2,", "--k", "1"], "value 3 is empty"),
            (["train", "--blas-threads", "0", "--run-dir", run], "--blas-threads must be in 1..."),
            (["train", "--blas-threads=-1", "--run-dir", run], "--blas-threads must be in 1..."),
            (["train", "--blas-threads", "100000", "--run-dir", run], "--blas-threads must be in 1..."),
            (["bench", "--blas-threads", "0"], "--blas-threads must be in 1..."),
            (["bench", "--blas-threads", "100000"], "--blas-threads must be in 1..."),
            (["train", "--samples", "16777215", "--run-dir", run], "samples must be in 1...4096"),
            (["train", "--set", "eval_samples=1e8", "--run-dir", run], "eval_samples"),
            (["train", "--set", "eval_samples=100000000", "--run-dir", run], "eval_samples must be in 1...100000"),
            (["train", "--config", boolean.path, "--run-dir", run], "'check_every'"),
            (["train", "--config", twice.path, "--run-dir", run], "'lr'"),
            (["checkpoint", "bench", "--items=-5"], "items must be ≥ 2"),
            (["checkpoint", "bench", "--dir", "/nonexistent-capg/x"], "parent directory /nonexistent-capg does not exist"),
        ]
        for (args, fragment) in cases {
            let r = try self.run(args)
            XCTAssertEqual(r.code, 64, "\(args): exit \(r.code), stderr \(r.err)")
            XCTAssertTrue(r.err.contains(fragment), "\(args): stderr lacks '\(fragment)': \(r.err)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: "/nonexistent-capg"), "checkpoint bench created the missing parent")
        XCTAssertFalse(FileManager.default.fileExists(atPath: run), "a refused train created its run directory")
        let booleanError = try self.run(["train", "--config", boolean.path, "--run-dir", run]).err
        XCTAssertTrue(booleanError.contains("booleans"), booleanError)
        let twiceError = try self.run(["train", "--config", twice.path, "--run-dir", run]).err
        XCTAssertTrue(twiceError.contains("given twice"), twiceError)
    }

    /// The exact model across a 697-nat gap (issue 17 item 5): the top item is certain and
    /// the other two share the second slot, so P sums to K = 2.
    func testInclusionAcrossWideGap() throws {
        let r = try run(["inclusion", "--scores=1,700,3", "--k", "2", "--model", "exact", "--json"])
        XCTAssertEqual(r.code, 0, r.err)
        let p = (try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any])["p"] as! [Double]
        XCTAssertEqual(p[1], 1, accuracy: 1e-12)
        XCTAssertEqual(p[2], exp(3.0) / (exp(1.0) + exp(3.0)), accuracy: 1e-12)
        XCTAssertEqual(p.reduce(0, +), 2, accuracy: 1e-12)
    }
}
