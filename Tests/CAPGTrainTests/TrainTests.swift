import CAPGCore
import Foundation
import XCTest
@testable import CAPGTrain

final class TrainTests: XCTestCase {
    func smallConfig(_ estimator: EstimatorKind) -> TrainingConfig {
        var c = TrainingConfig()
        c.items = 500; c.dim = 16; c.k = 10; c.batchSize = 32; c.steps = 120; c.lr = 0.02
        // The REINFORCE-style estimators (V-PG, with and without replacement) get the mean
        // baseline: without it their variance needs far more than 120 steps.
        c.estimator = estimator; c.baseline = (estimator == .vpg || estimator == .vpgSwr) ? .mean : .none
        c.evalQueries = 64; c.evalSamples = 4; c.evalEvery = 40
        return c
    }

    /// Training on the synthetic environment raises the normalized value well above the
    /// random ESR (normalized value 0) for every estimator.
    func testTrainingBeatsRandomESR() throws {
        for est in EstimatorKind.allCases {
            let s = try TrainingRun(config: smallConfig(est), runDirectory: nil, quiet: true)
                .run(communicator: SingleProcessCommunicator())
            XCTAssertGreaterThan(s.finalNormalizedValue, 0.15, "\(est): normalized value \(s.finalNormalizedValue)")
            XCTAssertGreaterThan(s.finalValue, s.randomValue)
        }
    }

    /// Same seed ⇒ bitwise-identical parameters; another seed ⇒ different ones.
    func testRunsAreReproducible() throws {
        var c = smallConfig(.capg); c.steps = 20
        let a = try TrainingRun(config: c, runDirectory: nil, quiet: true).run(communicator: SingleProcessCommunicator())
        let b = try TrainingRun(config: c, runDirectory: nil, quiet: true).run(communicator: SingleProcessCommunicator())
        XCTAssertEqual(a.paramFingerprint, b.paramFingerprint)
        c.seed = 1
        let d = try TrainingRun(config: c, runDirectory: nil, quiet: true).run(communicator: SingleProcessCommunicator())
        XCTAssertNotEqual(a.paramFingerprint, d.paramFingerprint)
    }

    /// The per-query loop runs on worker threads; every query's row is written by one thread
    /// and the sums are reduced in query order, so 1, 2 or 3 threads give bitwise the same
    /// parameters (fused path, and the two-phase path of a learned LSR).
    func testWorkerThreadCountDoesNotChangeResults() throws {
        for mode in [LateStageMode.fixed, .joint] {
            var c = smallConfig(.capg); c.steps = 6; c.evalEvery = 100
            c.lsrMode = mode; c.lsrTemperature = 0.1
            var results: [[Float]] = []
            for threads in [1, 2, 3] {
                let t = try Trainer(config: c, communicator: SingleProcessCommunicator())
                t.workerThreads = threads
                for _ in 0..<c.steps { _ = try t.trainStep() }
                results.append(t.parameters + t.lateStageWeights)
            }
            XCTAssertEqual(results[0], results[1], "\(mode): 1 vs 2 threads")
            XCTAssertEqual(results[0], results[2], "\(mode): 1 vs 3 threads")
        }
    }

    /// `--blas-threads` sets the GEMMs' threads and the per-query loop's together; with a
    /// batch large enough that all three of the step's GEMMs are tiled (forward by columns,
    /// ∂E by rows, ∂U by depth), 1, 2 and 3 threads train bitwise the same parameters. (With
    /// OpenBLAS's own threading they did not: its result depends on its partition.)
    func testGEMMThreadCountDoesNotChangeResults() throws {
        var c = smallConfig(.capg); c.items = 5000; c.steps = 4; c.evalEvery = 100
        XCTAssertEqual(GEMMTiling(m: c.batchSize, n: c.items, k: c.dim).split, .columns)
        XCTAssertEqual(GEMMTiling(m: c.items, n: c.dim, k: c.batchSize).split, .rows)
        XCTAssertEqual(GEMMTiling(m: c.batchSize, n: c.dim, k: c.items).split, .depth)
        let saved = GEMM.threads
        defer { GEMM.setThreads(saved) }
        var results: [[Float]] = []
        for threads in [1, 2, 3] {
            GEMM.setThreads(threads)
            let t = try Trainer(config: c, communicator: SingleProcessCommunicator())
            XCTAssertEqual(t.workerThreads, threads)
            for _ in 0..<c.steps { _ = try t.trainStep() }
            results.append(t.parameters)
        }
        XCTAssertEqual(results[0], results[1], "1 vs 2 threads")
        XCTAssertEqual(results[0], results[2], "1 vs 3 threads")
    }

    func testRunDirectoryContents() throws {
        var c = smallConfig(.topk); c.steps = 10; c.evalEvery = 5
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("capg-test-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        _ = try TrainingRun(config: c, runDirectory: dir.path, quiet: true).run(communicator: SingleProcessCommunicator())
        let summary = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("summary.json"))) as! [String: Any]
        for key in ["final_value", "final_normalized_value", "recall", "steps", "wall_seconds", "param_fingerprint"] {
            XCTAssertNotNil(summary[key], key)
        }
        XCTAssertEqual(summary["steps"] as? Int, 10)
        let config = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("config.json"))) as! [String: Any]
        XCTAssertEqual(config["estimator"] as? String, "topk")
        XCTAssertEqual(config["items"] as? Int, 500)
        let lines = try String(contentsOf: dir.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 10)
        let csv = try String(contentsOf: dir.appendingPathComponent("metrics.csv"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(csv.count, 11)
        XCTAssertTrue(csv[0].hasPrefix("step,mean_reward"))
        // The resolved config round-trips through the config-file reader.
        var back = TrainingConfig()
        try back.apply(configFile: dir.appendingPathComponent("config.json").path)
        XCTAssertEqual(back, c)
    }

    func testConfigErrorsNameTheKeyAndSource() {
        var c = TrainingConfig()
        XCTAssertThrowsError(try c.apply(overrides: ["itemz=5"])) {
            XCTAssertTrue("\($0)".contains("unknown config key 'itemz'"))
        }
        XCTAssertThrowsError(try c.apply(overrides: ["k=ten"])) {
            XCTAssertTrue("\($0)".contains("'ten' is not an integer"))
        }
        XCTAssertThrowsError(try c.apply(overrides: ["estimator=ppo"])) {
            XCTAssertTrue("\($0)".contains("one of vpg|capg|topk|distill"))
        }
        XCTAssertThrowsError(try c.apply(overrides: ["novalue"]))
        c = TrainingConfig(); c.k = c.items + 1
        XCTAssertThrowsError(try c.validate())
        c = TrainingConfig(); c.batchSize = 10
        XCTAssertThrowsError(try c.validate(ranks: 3)) { XCTAssertTrue("\($0)".contains("divisible")) }
        c = TrainingConfig(); c.estimator = .vpg; c.baseline = .loo; c.samples = 1
        XCTAssertThrowsError(try c.validate())
    }

    func testSHA256KnownAnswers() {
        XCTAssertEqual(SHA256.hex(Array("abc".utf8)), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        XCTAssertEqual(SHA256.hex([UInt8]()), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        let long = Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8)
        XCTAssertEqual(SHA256.hex(long), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        var chunked = SHA256()
        for b in long { chunked.update([b]) }
        XCTAssertEqual(chunked.finalizeHex(), SHA256.hex(long))
        // FIPS 180-4's long message (one million 'a'), whole and in pieces that straddle the
        // 64-byte blocks (the kernel compresses every whole block of a piece in one call).
        let million = [UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)
        let expected = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        XCTAssertEqual(SHA256.hex(million), expected)
        for piece in [1, 7, 63, 64, 65, 1000, 4097] {
            var s = SHA256()
            var i = 0
            while i < million.count {
                let j = min(million.count, i + piece)
                s.update(million[i..<j])
                i = j
            }
            XCTAssertEqual(s.finalizeHex(), expected, "pieces of \(piece)")
        }
    }
}

/// The context two-tower tasks (synthetic, paper world) reuse the previous step's score array
/// when called through `TrainingTask` (the shared `ContextTwoTowerTask` forward, not the
/// allocating default), and their queries carry the contexts the ESR scored.
final class ContextTwoTowerTaskTests: XCTestCase {
    func testForwardThroughTheProtocolRecyclesTheScoreArray() {
        var c = TrainingConfig(); c.items = 50; c.dim = 4; c.batchSize = 3
        for task in [SyntheticTask(config: c) as any TrainingTask, PaperTask(config: { var p = c; p.data = .paper; return p }())] {
            let params = task.initialParameters()
            let expected = task.forward(parameters: params, ids: [0, 1, 2], evaluation: false).scores
            var first: [Float] = []
            // The only reference to the array, so reusing it needs no copy-on-write.
            var recycled = task.forward(parameters: params, ids: [0, 1, 2], evaluation: false, recycling: &first).scores
            let address = recycled.withUnsafeBufferPointer { $0.baseAddress }
            let b = task.forward(parameters: params, ids: [0, 1, 2], evaluation: false, recycling: &recycled)
            XCTAssertTrue(recycled.isEmpty, "\(type(of: task)): the recycled buffer is taken")
            XCTAssertEqual(b.scores.withUnsafeBufferPointer { $0.baseAddress }, address, "\(type(of: task)): storage reused")
            XCTAssertEqual(b.scores, expected)
            XCTAssertEqual(task.queries(ids: [0, 1, 2], evaluation: false).count, 3)
        }
    }
}
