import Foundation
import XCTest

/// `capg eval`, `capg export` and `capg retrieve` on checkpoints of real runs (synthetic
/// and the MSLR sample), through the built binary; exports are checked by
/// scripts/check_export.py with numpy alone (skipped, with the reason, when python3 or
/// numpy is missing).
extension CheckpointProcessTests {
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    func requireNumpy() throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "-c", "import numpy"]
        p.standardOutput = FileHandle.nullDevice; p.standardError = FileHandle.nullDevice
        do { try p.run() } catch { throw XCTSkip("python3 is not installed: the export check needs python3 with numpy") }
        p.waitUntilExit()
        if p.terminationStatus != 0 { throw XCTSkip("python3 has no numpy: the export check needs it (apt install python3-numpy)") }
    }

    /// Runs scripts/check_export.py; returns (exit code, output).
    func checkExport(_ file: String, fingerprint: String, retrieved: String, letor: String? = nil) throws -> (Int32, String) {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", Self.repoRoot + "/scripts/check_export.py", file, "--fingerprint", fingerprint,
                       "--retrieved", retrieved] + (letor.map { ["--letor", $0] } ?? [])
        let pipe = Pipe()
        p.standardOutput = pipe; p.standardError = pipe
        try p.run()
        let out = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: out, as: UTF8.self))
    }

    func evalJSON(_ args: [String]) throws -> [String: Any] {
        let r = try run(nil, ["eval"] + args + ["--json"])
        XCTAssertEqual(r.code, 0, r.err)
        return try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any]
    }

    /// Retrieved lines: K distinct items per query, scores descending.
    func assertRetrieved(_ path: String, k: Int, queries: Int, file: StaticString = #filePath, line: UInt = #line) throws -> [[String: Any]] {
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
        XCTAssertEqual(lines.count, queries, file: file, line: line)
        for l in lines {
            let items = l["items"] as! [Int], scores = l["scores"] as! [Double]
            XCTAssertEqual(items.count, k, file: file, line: line)
            XCTAssertEqual(Set(items).count, k, file: file, line: line)
            XCTAssertEqual(scores, scores.sorted(by: >), "scores not descending", file: file, line: line)
        }
        return lines
    }

    /// Synthetic: eval reproduces the run's final value (1e-9) with intervals around it;
    /// export in both formats passes the numpy check against retrieve's output.
    func testServeSyntheticCheckpoint() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let t = try run(nil, common + ["--steps", "10", "--run-dir", dir])
        XCTAssertEqual(t.code, 0, t.err)
        let s = try summary(dir)
        let e = try evalJSON([dir + "/checkpoints"])
        XCTAssertEqual(e["value"] as! Double, s["final_value"] as! Double, accuracy: 1e-9)
        XCTAssertEqual(e["normalized_value"] as! Double, s["final_normalized_value"] as! Double, accuracy: 1e-9)
        XCTAssertEqual(e["recall"] as! Double, s["recall"] as! Double, accuracy: 1e-9)
        XCTAssertEqual(e["queries"] as? Int, 30)
        for key in ["value", "normalized_value", "recall"] {
            let v = e[key] as! Double, lo = e[key + "_ci_low"] as! Double, hi = e[key + "_ci_high"] as! Double
            XCTAssertTrue(lo <= v && v <= hi && lo < hi, "\(key): \(v) not in [\(lo), \(hi)]")
        }
        // Intervals are reproducible (fixed bootstrap seed).
        XCTAssertEqual(try evalJSON([dir + "/checkpoints"])["value_ci_low"] as? Double, e["value_ci_low"] as? Double)

        let retrieved = dir + "/top.jsonl"
        let r = try run(nil, ["retrieve", dir + "/checkpoints", "--k", "7", "--queries", "5", "--with-context", "--out", retrieved])
        XCTAssertEqual(r.code, 0, r.err)
        let lines = try assertRetrieved(retrieved, k: 7, queries: 5)
        XCTAssertEqual(lines.map { $0["query"] as! Int }, [0, 1, 2, 3, 4])
        let ranged = dir + "/range.jsonl"
        XCTAssertEqual(try run(nil, ["retrieve", dir + "/checkpoints", "--k", "3", "--query-range", "10..<12", "--out", ranged]).code, 0)
        XCTAssertEqual(try assertRetrieved(ranged, k: 3, queries: 2).map { $0["query"] as! Int }, [10, 11])

        try requireNumpy()
        for format in ["safetensors", "npz"] {
            let out = dir + "/model." + format
            let x = try run(nil, ["export", dir + "/checkpoints", "--format", format, "--out", out])
            XCTAssertEqual(x.code, 0, x.err)
            let (code, text) = try checkExport(out, fingerprint: s["param_fingerprint"] as! String, retrieved: retrieved)
            XCTAssertEqual(code, 0, "\(format): \(text)")
        }
    }

    /// LETOR (linear ESR on the MSLR sample): eval matches the run's value and NDCG@K and
    /// reports NDCG@1,3,5,10,K and MRR; the npz export passes the numpy check on every query
    /// of the test file (features standardized with the exported moments).
    func testServeLetorCheckpoint() throws {
        let args = try letorArgs(hidden: 0)
        let test = Self.dataRoot + "/mslr/msn1.fold1.test.5k.txt"
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let t = try run(nil, args + ["--steps", "6", "--run-dir", dir])
        XCTAssertEqual(t.code, 0, t.err)
        let s = try summary(dir)
        let e = try evalJSON([dir + "/checkpoints"])
        XCTAssertEqual(e["value"] as! Double, s["final_value"] as! Double, accuracy: 1e-9)
        XCTAssertEqual(e["ndcg_k"] as! Double, s["ndcg"] as! Double, accuracy: 1e-9)
        for key in ["ndcg_1", "ndcg_3", "ndcg_5", "ndcg_10", "ndcg_k", "mrr"] {
            let v = e[key] as! Double, lo = e[key + "_ci_low"] as! Double, hi = e[key + "_ci_high"] as! Double
            XCTAssertTrue(v >= 0 && v <= 1 && lo <= v && v <= hi, "\(key): \(v) [\(lo), \(hi)]")
        }
        let retrieved = dir + "/top.jsonl"
        let r = try run(nil, ["retrieve", dir + "/checkpoints", "--test", test, "--k", "5", "--out", retrieved])
        XCTAssertEqual(r.code, 0, r.err)
        let lines = try assertRetrieved(retrieved, k: 5, queries: e["queries"] as! Int)
        XCTAssertNotNil(lines.first?["qid"] as? String)

        try requireNumpy()
        let out = dir + "/model.npz"
        let x = try run(nil, ["export", dir + "/checkpoints", "--format", "npz", "--out", out])
        XCTAssertEqual(x.code, 0, x.err)
        let (code, text) = try checkExport(out, fingerprint: s["param_fingerprint"] as! String, retrieved: retrieved, letor: test)
        XCTAssertEqual(code, 0, text)
    }

    /// A LETOR label above --max-label stops training with FILE:LINE and the flag to change.
    func testLetorLabelAboveMaximumNamesTheFlag() throws {
        let args = try letorArgs(hidden: 0)
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try run(nil, args + ["--steps", "1", "--max-label", "3", "--run-dir", dir])
        XCTAssertEqual(r.code, 1)
        XCTAssertTrue(r.err.contains("msn1.fold1.train.5k.txt:") && r.err.contains("--max-label 4"), r.err)
        let g = try run(nil, args + ["--steps", "2", "--gain", "linear", "--run-dir", dir + "/lin"])
        XCTAssertEqual(g.code, 0, g.err)
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/lin/config.json"))) as! [String: Any]
        XCTAssertEqual(config["gain"] as? String, "linear")
        XCTAssertEqual(config["max_label"] as? Double, 4)
    }
}
