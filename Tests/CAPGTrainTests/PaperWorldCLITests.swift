import CAPGCore
@testable import CAPGTrain
import Foundation
import XCTest

/// The paper world (`--data paper`) and the estimators, inclusion models and optimizer added
/// for it, through the CLI and the configuration checks.
extension CLITests {
    /// Every new method runs end to end on a small paper world, for every LSR level, and
    /// writes a finite final value.
    func testPaperWorldRunsEveryNewMethod() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("capg-paper-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let methods: [[String]] = [
            ["--estimator", "vpg-swr", "--optimizer", "adagrad", "--lr", "0.1"],
            ["--estimator", "top1", "--optimizer", "adagrad", "--lr", "0.01"],
            ["--estimator", "capg", "--inclusion", "prefix", "--optimizer", "adagrad", "--lr", "0.01"],
            ["--estimator", "capg", "--inclusion", "hybrid"],
        ]
        for (m, method) in methods.enumerated() {
            for level in ["optimal", "noisy", "uniform", "anti"] {
                let runDir = "\(dir)/\(m)-\(level)"
                let r = try run(["train", "--data", "paper", "--items", "80", "--users", "20", "--k", "5", "--batch-size", "8",
                                 "--steps", "3", "--eval-every", "3", "--lsr-optimality", level, "--lsr-noise", "0.1",
                                 "--set", "eval_queries=20", "--run-dir", runDir, "--quiet"] + method)
                XCTAssertEqual(r.code, 0, "\(method) \(level): \(r.err)")
                let s = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: runDir + "/summary.json"))) as! [String: Any]
                XCTAssertTrue((s["final_value"] as! Double).isFinite, "\(method) \(level)")
            }
        }
    }

    /// `--data paper` replaces the global defaults of items, context_dim, reward_scale and
    /// dim with the paper's (1000, 10, 10, 10); an explicit value wins.
    func testPaperDefaults() throws {
        var c = TrainingConfig()
        try c.set("data", "paper")
        XCTAssertEqual([c.items, c.contextDim, c.dim], [1000, 10, 10])
        XCTAssertEqual(c.rewardScale, 10)
        var d = TrainingConfig()
        try d.set("items", "300")
        try d.set("data", "paper")
        XCTAssertEqual(d.items, 300)
        XCTAssertEqual(d.lateStageTemperature, 0)
        try d.set("lsr_optimality", "uniform")
        XCTAssertEqual(d.lateStageTemperature, 1)
        XCTAssertThrowsError(try d.set("lsr_optimality", "perfect"))
    }

    /// Item-sharded training refuses the paper world, the with-replacement estimators and
    /// the prefix / hybrid inclusion models with a configuration error that says what to use.
    func testItemShardsRefuseNewMethods() throws {
        func refused(_ edit: (inout TrainingConfig) -> Void, _ phrase: String) {
            var c = TrainingConfig()
            c.items = 100; c.k = 5; c.batchSize = 4; c.itemShards = 2
            edit(&c)
            XCTAssertThrowsError(try c.validate(ranks: 2)) { XCTAssertTrue("\($0)".contains(phrase), "\($0)") }
        }
        refused({ $0.data = .paper }, "data synthetic only")
        refused({ $0.estimator = .vpgSwr }, "with replacement")
        refused({ $0.estimator = .top1 }, "with replacement")
        refused({ $0.inclusion = .prefix }, "--inclusion threshold")
        refused({ $0.inclusion = .hybrid }, "--inclusion threshold")
        var ok = TrainingConfig()
        ok.items = 100; ok.k = 5; ok.batchSize = 4; ok.itemShards = 2
        XCTAssertNoThrow(try ok.validate(ranks: 2))
    }
}
