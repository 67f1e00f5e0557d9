import Foundation
import XCTest

/// Checkpoints of real-data runs through the built `capg` (the helpers of
/// CheckpointProcessTests): bitwise resume on the MSLR-WEB sample (LETOR, linear and MLP
/// ESR) and on the Open Bandit Dataset sample at np = 1 and 2 under a real `mpirun`,
/// `checkpoint verify`/`inspect` on a LETOR checkpoint, and the kill -9 trial on a LETOR
/// run. The samples come from `scripts/fetch-data.sh`; without them the tests are skipped
/// with that reason (as RealDataTrainingTests are).
extension CheckpointProcessTests {
    static let dataRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("data").path

    func requireData(_ paths: String...) throws {
        for p in paths where !FileManager.default.fileExists(atPath: p) {
            throw XCTSkip("\(p) missing: run scripts/fetch-data.sh (needs network to PyPI)")
        }
    }

    /// `train` arguments of a short LETOR run on the MSLR sample (skips without the data).
    func letorArgs(hidden: Int = 0) throws -> [String] {
        let train = Self.dataRoot + "/mslr/msn1.fold1.train.5k.txt", test = Self.dataRoot + "/mslr/msn1.fold1.test.5k.txt"
        try requireData(train, test)
        return ["train", "--data", "letor", "--train", train, "--test", test, "--hidden", String(hidden), "--k", "10",
                "--batch-size", "8", "--eval-every", "5", "--check-every", "1", "--lr", "0.02", "--lsr-noise", "0.5", "--quiet"]
    }

    /// `train` arguments of a short OBD run on the Open Bandit sample (skips without the data).
    func obdArgs() throws -> [String] {
        let dir = Self.dataRoot + "/obd/random/all"
        try requireData(dir + "/all.csv", dir + "/item_context.csv")
        return ["train", "--data", "obd", "--obd-dir", dir, "--k", "5", "--batch-size", "8", "--eval-every", "5",
                "--check-every", "1", "--lsr-noise", "0.0005", "--set", "eval_queries=40", "--quiet"]
    }

    /// T steps, then a resume for T more, equal 2T uninterrupted steps bitwise (same
    /// param_fingerprint, same metrics rows) at np = 1 and np = 2.
    func assertBitwiseResume(_ args: [String], what: String, file: StaticString = #filePath, line: UInt = #line) throws {
        for np in [1, 2] {
            let full = tempDir(), split = tempDir()
            defer { try? FileManager.default.removeItem(atPath: full); try? FileManager.default.removeItem(atPath: split) }
            let a = try run(np, args + ["--steps", "12", "--checkpoint-every", "0", "--run-dir", full])
            XCTAssertEqual(a.code, 0, "\(what) np=\(np): \(a.err)", file: file, line: line)
            let b = try run(np, args + ["--steps", "6", "--checkpoint-every", "3", "--run-dir", split])
            XCTAssertEqual(b.code, 0, "\(what) np=\(np): \(b.err)", file: file, line: line)
            let v = try run(nil, ["checkpoint", "verify", split + "/checkpoints/latest"])
            XCTAssertEqual(v.code, 0, "\(what) np=\(np): \(v.err)", file: file, line: line)
            let c = try run(np, args + ["--steps", "12", "--checkpoint-every", "3", "--run-dir", split, "--resume", "auto"])
            XCTAssertEqual(c.code, 0, "\(what) np=\(np): \(c.err)", file: file, line: line)
            let s = try summary(split), f = try summary(full)
            XCTAssertEqual(s["resumed_from_step"] as? Int, 6, "\(what) np=\(np)", file: file, line: line)
            XCTAssertEqual(s["steps"] as? Int, 12, file: file, line: line)
            XCTAssertNotNil(f["param_fingerprint"] as? String, file: file, line: line)
            XCTAssertEqual(s["param_fingerprint"] as? String, f["param_fingerprint"] as? String,
                           "\(what) np=\(np): resumed run differs from the uninterrupted one", file: file, line: line)
            XCTAssertEqual(s["final_value"] as? Double, f["final_value"] as? Double, "\(what) np=\(np)", file: file, line: line)
            XCTAssertEqual(try column(split, "mean_reward"), try column(full, "mean_reward"), "\(what) np=\(np): metrics rows",
                           file: file, line: line)
        }
    }

    func testLetorResumeIsBitwiseIdentical() throws {
        try assertBitwiseResume(try letorArgs(hidden: 0), what: "letor linear")
        try assertBitwiseResume(try letorArgs(hidden: 8), what: "letor mlp")
    }

    func testOBDResumeIsBitwiseIdentical() throws {
        try assertBitwiseResume(try obdArgs(), what: "obd")
    }

    /// The reproduction: `checkpoint verify` exits 0 on a LETOR checkpoint, `inspect`
    /// shows the task, the model shape and the standardization, and a resume to more steps
    /// works; a resume against another training file is refused with the reason.
    func testLetorCheckpointVerifiesInspectsAndResumes() throws {
        let args = try letorArgs(hidden: 4)
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let a = try run(nil, args + ["--steps", "20", "--checkpoint-every", "10", "--run-dir", dir])
        XCTAssertEqual(a.code, 0, a.err)
        let v = try run(nil, ["checkpoint", "verify", dir + "/checkpoints/latest"])
        XCTAssertEqual(v.code, 0, v.err)
        XCTAssertTrue(v.out.contains("(step 20,"), v.out)
        let i = try run(nil, ["checkpoint", "inspect", dir + "/checkpoints", "--json"])
        XCTAssertEqual(i.code, 0, i.err)
        let obj = try JSONSerialization.jsonObject(with: Data(i.out.utf8)) as! [String: Any]
        let model = try XCTUnwrap(obj["model"] as? [String: Any])
        XCTAssertEqual(model["data"] as? String, "letor")
        XCTAssertEqual(model["esr"] as? String, "mlp")
        XCTAssertEqual(model["features"] as? Int, 136)
        XCTAssertEqual(model["hidden"] as? Int, 4)
        XCTAssertEqual((model["feature_mean"] as? [Double])?.count, 136)
        XCTAssertEqual((model["feature_inv_std"] as? [Double])?.count, 136)
        XCTAssertEqual(obj["param_fingerprint"] as? String, try summary(dir)["param_fingerprint"] as? String)
        let queries = try XCTUnwrap((obj["data"] as? [String: Any])?["query_count"] as? Int)
        XCTAssertLessThan(queries, 10_000, "query_count is the training file's query count")
        let human = try run(nil, ["checkpoint", "inspect", dir + "/checkpoints"])
        XCTAssertTrue(human.out.contains("letor: MLP ESR over 136 standardized features, 4 hidden units"), human.out)
        XCTAssertTrue(human.out.contains("tensor data.feature_mean [136]"), human.out)

        let r = try run(nil, args + ["--steps", "30", "--run-dir", dir, "--resume", "auto"])
        XCTAssertEqual(r.code, 0, r.err)
        XCTAssertEqual(try summary(dir)["steps"] as? Int, 30)
        XCTAssertEqual(try summary(dir)["resumed_from_step"] as? Int, 20)

        // Another training file under the same path (one feature value changed, same
        // queries): the stored standardization no longer matches and the resume is refused.
        let copy = tempDir()
        defer { try? FileManager.default.removeItem(atPath: copy) }
        try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: true)
        let train = args[args.firstIndex(of: "--train")! + 1]
        let text = try String(contentsOfFile: train, encoding: .utf8)
        try text.write(toFile: copy + "/train.txt", atomically: true, encoding: .utf8)
        var other = args
        other[other.firstIndex(of: "--train")! + 1] = copy + "/train.txt"
        let o = try run(nil, other + ["--steps", "10", "--run-dir", copy + "/run"])
        XCTAssertEqual(o.code, 0, o.err)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        lines[0] = lines[0].split(separator: " ").map { $0.hasPrefix("1:") ? "1:99999" : String($0) }.joined(separator: " ")
        try lines.joined(separator: "\n").write(toFile: copy + "/train.txt", atomically: true, encoding: .utf8)
        let bad = try run(nil, other + ["--steps", "20", "--run-dir", copy + "/run", "--resume", "auto"])
        XCTAssertEqual(bad.code, 1, bad.out)
        XCTAssertTrue(bad.err.contains("data.feature_mean[0]") && bad.err.contains("training data changed"), bad.err)
    }

    /// The kill -9 trial (CheckpointProcessTests.killNineTrials) on a LETOR run.
    func testKillNineOnLetorRunNeverLosesTheCheckpoint() throws {
        // (A later option wins: no replica checks, no evaluation, so steps are short.)
        try killNineTrials(try letorArgs(hidden: 4) + ["--check-every", "0", "--eval-every", "1000"], trials: 8)
    }
}
