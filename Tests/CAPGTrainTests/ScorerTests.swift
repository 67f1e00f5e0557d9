import CAPGCore
import Foundation
import XCTest
@testable import CAPGTrain

/// The external scorer protocol against the real sample scorer (`scripts/scorer/sample_scorer.py`,
/// a separate Python process): rewards through a pipe and a Unix socket, every failure mode
/// ending in its typed error within the time-out, and `mpirun -np 2` training with the scorer
/// equal to training with the built-in reward.
final class ScorerTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    var script: String { Self.root.appendingPathComponent("scripts/scorer/sample_scorer.py").path }

    /// A tiny LETOR file: query "a" with labels 0, 4, 2; query "b" with labels 1, 3.
    func letorFile() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("capg-scorer-\(UUID().uuidString).txt").path
        let text = """
        0 qid:a 1:0.1 2:0.2
        4 qid:a 1:0.3 2:0.1
        2 qid:a 1:0.5 2:0.9
        1 qid:b 1:0.2 2:0.2
        3 qid:b 1:0.7 2:0.4

        """
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    let hello = ScorerMessage.Hello(capgVersion: CapgVersion.string, rank: 0, ranks: 1, data: "letor", configHash: "test")

    let items = [
        RewardRequestItem(queryID: 0, queryKey: "a", sample: 0, chosen: 1, candidates: [1, 2]),
        RewardRequestItem(queryID: 0, queryKey: "a", sample: 1, chosen: 2, candidates: [2, 0, 1]),
        RewardRequestItem(queryID: 1, queryKey: "b", sample: 0, chosen: 0, candidates: [0]),
        RewardRequestItem(queryID: 1, queryKey: "b", sample: 1, chosen: 1, candidates: [1, 0]),
    ]
    /// (2^rel − 1)/15 of the chosen documents: labels 4, 2, 1, 3.
    let expected = [15.0 / 15, 3.0 / 15, 1.0 / 15, 7.0 / 15]

    func testVarintFraming() {
        XCTAssertEqual(ScorerMessage.varint(0), [0])
        XCTAssertEqual(ScorerMessage.varint(127), [127])
        XCTAssertEqual(ScorerMessage.varint(300), [0xAC, 0x02])
        XCTAssertEqual(ScorerMessage.varint(1 << 28), [0x80, 0x80, 0x80, 0x80, 0x01])
        // A hand-encoded RewardReply{batch_id 5, rewards [0.5]} inside ScorerReply (field 2).
        let inner: [UInt8] = [0x08, 0x05, 0x12, 0x08] + withUnsafeBytes(of: (0.5).bitPattern.littleEndian, Array.init)
        XCTAssertEqual(ScorerMessage.decodeReply([0x12, UInt8(inner.count)] + inner), .rewards(batchID: 5, rewards: [0.5]))
        XCTAssertNil(ScorerMessage.decodeReply([0xFF, 0xFF, 0xFF]))
        XCTAssertNil(ScorerMessage.decodeReply([]), "a reply without a body is not a reply")
    }

    /// A scorer per rank (pipes) and a shared scorer (socket) return exactly the LETOR gains,
    /// batch after batch; the per-rank process is reaped at close.
    func testRewardsThroughPipeAndSocket() throws {
        let file = try letorFile()
        let piped = try ExternalScorer(command: "python3 \(script) --letor \(file)", hello: hello, timeout: 20)
        XCTAssertTrue(piped.scorerName.hasPrefix("sample_scorer.py"), piped.scorerName)
        for step in 0..<3 { XCTAssertEqual(try piped.rewards(step: step, items: items), expected) }
        XCTAssertEqual(try piped.rewards(step: 3, items: []), [])
        piped.close()

        let sock = FileManager.default.temporaryDirectory.appendingPathComponent("capg-\(UUID().uuidString.prefix(8)).sock").path
        let server = Process()
        server.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        server.arguments = ["python3", script, "--letor", file, "--socket", sock]
        try server.run()
        defer { server.terminate(); server.waitUntilExit(); try? FileManager.default.removeItem(atPath: sock) }
        // Two connections (two "ranks") to the one scorer; connect retries while it starts.
        let a = try ExternalScorer(socket: sock, hello: hello, timeout: 20)
        var h1 = hello; h1.rank = 1; h1.ranks = 2
        let b = try ExternalScorer(socket: sock, hello: h1, timeout: 20)
        XCTAssertEqual(try a.rewards(step: 0, items: items), expected)
        XCTAssertEqual(try b.rewards(step: 0, items: Array(items.reversed())), expected.reversed())
        a.close(); b.close()
    }

    /// Each way a scorer can fail ends in its own error, within the time-out (never a hang),
    /// and the message names the scorer, the rank and the step.
    func testFailureModesEndCleanly() throws {
        let file = try letorFile()
        func failure(_ flags: String, timeout: Double = 2, file line: UInt = #line) -> ScorerError? {
            let start = Date()
            defer { XCTAssertLessThan(Date().timeIntervalSince(start), 3 * timeout + 5, "took too long: \(flags)", line: line) }
            do {
                let s = try ExternalScorer(command: "python3 \(script) --letor \(file) \(flags)", hello: hello, timeout: timeout)
                defer { s.close() }
                for step in 0..<3 { _ = try s.rewards(step: step, items: items) }
                XCTFail("no error for \(flags)", line: line)
            } catch let e as ScorerError {
                XCTAssertTrue(e.description.contains("sample_scorer.py"), "\(e)", line: line)
                return e
            } catch {
                XCTFail("\(flags): unexpected \(error)", line: line)
            }
            return nil
        }
        guard case .exited(_, 0, 1, let status)? = failure("--die-after 1") else { return XCTFail("die-after") }
        XCTAssertEqual(status, "exited with status 3")
        guard case .garbage(_, 0, 0, let reason)? = failure("--garbage") else { return XCTFail("garbage") }
        XCTAssertTrue(reason.contains("not a ScorerReply"), reason)
        guard case .timedOut(_, 0, 1.5, let what)? = failure("--hang", timeout: 1.5) else { return XCTFail("hang") }
        XCTAssertTrue(what.contains("batch 1"), what)
        XCTAssertEqual(failure("--protocol-version 7").map { "\($0)" }.map { $0.contains("version 7, capg speaks 1") }, true)
        guard case .garbage(_, 0, 0, let count)? = failure("--wrong-count") else { return XCTFail("wrong count") }
        XCTAssertTrue(count.contains("3 rewards for 4 rollouts"), count)
        guard case .garbage(_, 0, 0, let nan)? = failure("--nan") else { return XCTFail("nan") }
        XCTAssertTrue(nan.contains("not finite"), nan)
        guard case .scorerFailed(_, 0, 0, let message)? = failure("--fail") else { return XCTFail("fail") }
        XCTAssertTrue(message.contains("asked to fail"), message)
        // A command that is not a scorer at all exits at once.
        guard case .exited? = failure("--no-such-flag") else { return XCTFail("bad command") }
        // No scorer on the socket: the connect retries for the time-out, then says so.
        XCTAssertThrowsError(try ExternalScorer(socket: "/tmp/capg-no-such-\(UUID().uuidString.prefix(6)).sock", hello: hello, timeout: 0.5)) {
            XCTAssertTrue("\($0)".contains("cannot connect to the scorer socket"), "\($0)")
        }
    }

    /// `mpirun -np 2` on the MSLR sample: a scorer that implements the built-in reward
    /// (`reward = expected`) gives bitwise the same run; a scorer that dies mid-run ends the
    /// job non-zero within seconds, with the message naming it.
    func testMPIRunWithScorerEqualsBuiltInReward() throws {
        let train = Self.root.appendingPathComponent("data/mslr/msn1.fold1.train.5k.txt").path
        let test = Self.root.appendingPathComponent("data/mslr/msn1.fold1.test.5k.txt").path
        guard FileManager.default.fileExists(atPath: train) else {
            throw XCTSkip("\(train) missing: run scripts/fetch-data.sh (needs network to PyPI)")
        }
        let common = ["train", "--data", "letor", "--train", train, "--test", test, "--k", "10", "--batch-size", "16",
                      "--steps", "30", "--eval-every", "15", "--reward", "expected", "--estimator", "capg",
                      "--checkpoint-every", "0", "--quiet"]
        let a = tempDir(), b = tempDir(), c = tempDir()
        defer { for d in [a, b, c] { try? FileManager.default.removeItem(atPath: d) } }
        let builtIn = try mpirun(2, common + ["--run-dir", a])
        XCTAssertEqual(builtIn.code, 0, builtIn.err)
        let scored = try mpirun(2, common + ["--run-dir", b, "--scorer-command", "python3 \(script) --letor \(train)"])
        XCTAssertEqual(scored.code, 0, scored.err)
        let sa = try summary(a), sb = try summary(b)
        XCTAssertEqual(sa["param_fingerprint"] as? String, sb["param_fingerprint"] as? String)
        XCTAssertEqual(sa["final_value"] as? Double, sb["final_value"] as? Double)
        XCTAssertEqual(sa["mean_reward_last"] as? Double, sb["mean_reward_last"] as? Double)

        let dead = try mpirun(2, common + ["--run-dir", c, "--scorer-timeout", "5",
                                           "--scorer-command", "python3 \(script) --letor \(train) --die-after 3"], timeLimit: 60)
        XCTAssertNotEqual(dead.code, 0)
        XCTAssertLessThan(dead.seconds, 45)
        XCTAssertTrue((dead.out + dead.err).contains("exited with status 3 at step 3"), dead.out + dead.err)
    }
}
