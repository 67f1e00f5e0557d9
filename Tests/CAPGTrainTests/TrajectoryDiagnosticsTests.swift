import CAPGCore
@testable import CAPGTrain
import Foundation
import XCTest

/// `TrajectoryDiagnostics` (`capg diagnose`) on a tiny paper world: one row per estimator,
/// metrics in range, identical on a repeat (keyed draws), and a refusal past enumeration.
final class TrajectoryDiagnosticsTests: XCTestCase {
    func tinyPaperConfig(items: Int = 6, k: Int = 2) throws -> TrainingConfig {
        var c = TrainingConfig()
        try c.set("data", "paper")
        try c.set("items", String(items))
        try c.set("users", "8")
        try c.set("k", String(k))
        try c.set("eval_queries", "8")
        try c.set("queries", "8")
        try c.set("batch_size", "8")
        try c.validate()
        return c
    }

    func testRowsPerEstimatorAreInRangeAndReproducible() throws {
        let c = try tinyPaperConfig()
        let task = try TrajectoryDiagnostics.task(config: c)
        let specs = try ["vpg", "vpg-swr", "capg:prefix", "capg:exact", "top1"].map {
            try DiagnosedEstimator(parsing: $0, defaultInclusion: .threshold)
        }
        let diag = TrajectoryDiagnostics(estimators: specs, draws: 40, contexts: 4, seed: 3)
        let params = task.initialParameters()
        let rows = try diag.measure(config: c, task: task, parameters: params, step: 0)
        XCTAssertEqual(rows.map(\.estimator), [.vpg, .vpgSwr, .capg, .capg, .top1])
        XCTAssertEqual(rows.map(\.inclusion), [nil, nil, .prefix, .exact, nil])
        for r in rows {
            XCTAssertTrue((-1...1).contains(r.cosineToExact) && (-1...1).contains(r.cosinePooled), "\(r.estimator)")
            XCTAssertTrue((0...1).contains(r.vanishingFraction))
            XCTAssertGreaterThan(r.varianceScores, 0)
            XCTAssertEqual(r.varianceBatchParams, r.varianceParams / 4, accuracy: 1e-12 * r.varianceParams)
            XCTAssertTrue((0...1).contains(r.exactValue))
            XCTAssertTrue(r.snr.isFinite && r.snr >= 0)
            XCTAssertTrue((0...1).contains(r.deterministicValue))
            XCTAssertLessThanOrEqual(r.vanishingFraction, r.vanishingLoose[0])
            XCTAssertLessThanOrEqual(r.vanishingLoose[0], r.vanishingLoose[1])
            XCTAssertLessThanOrEqual(r.relativeNormP10!, r.relativeNormMedian!)
        }
        // The deterministic ESR's value: the LSR's value of the top-K of the scores, by hand.
        let batch = task.forward(parameters: params, ids: Array(0..<4), evaluation: true)
        let lsr = LateStageRanker(temperature: c.lateStageTemperature)
        var byHand = 0.0
        for q in 0..<4 {
            let s = batch.range(q).map { Double(batch.scores[$0]) }
            let top = Array(s.indices.sorted { s[$0] > s[$1] }.prefix(c.k))
            let query = batch.queries[q]
            byHand += lsr.setValue(candidates: top, query: query) / 4
        }
        XCTAssertEqual(rows[0].deterministicValue, byHand, accuracy: 1e-12)
        XCTAssertEqual(TrajectoryDiagnostics.quantile([3, 1, 2, 4], 0.5), 2)
        XCTAssertEqual(TrajectoryDiagnostics.quantile([3, 1, 2, 4], 0.1), 1)
        XCTAssertNil(TrajectoryDiagnostics.quantile([], 0.5))
        let again = try diag.measure(config: c, task: task, parameters: params, step: 0)
        XCTAssertEqual(rows.map(\.varianceParams), again.map(\.varianceParams))
        XCTAssertEqual(rows.map(\.cosineToExact), again.map(\.cosineToExact))
    }

    func testRefusesWorldsTooLargeToEnumerate() throws {
        let c = try tinyPaperConfig(items: 40, k: 5)  // 40·39·38·37·36 ≈ 7.9e7 prefixes
        let task = try TrajectoryDiagnostics.task(config: c)
        let diag = TrajectoryDiagnostics(estimators: [DiagnosedEstimator(kind: .vpg)], draws: 4, contexts: 1, seed: 0)
        XCTAssertThrowsError(try diag.measure(config: c, task: task, parameters: task.initialParameters(), step: 0))
        XCTAssertThrowsError(try DiagnosedEstimator(parsing: "vpg:prefix", defaultInclusion: .threshold))
        XCTAssertThrowsError(try DiagnosedEstimator(parsing: "distill", defaultInclusion: .threshold))
    }
}

/// The SwR methods' candidates (`swr_candidates`): the paper world samples them by
/// Gumbel-top-K as the authors' code does (facebookresearch/early_stage_retrieval:
/// `train_early_stage_policy_online` draws every method's candidates with
/// `early_stage_policy.sample`, Gumbel noise + top-K); elsewhere i.i.d. draws; a set value wins.
final class SwRCandidatesTests: XCTestCase {
    func testPaperWorldSamplesSwRCandidatesWithoutReplacement() throws {
        var c = TrainingConfig()
        XCTAssertEqual(c.swrCandidates, .withReplacement)
        try c.set("estimator", "vpg-swr")
        try c.set("data", "paper")
        XCTAssertEqual(c.swrCandidates, .plackettLuce)
        XCTAssertNil(c.jsonObject["swr_candidates"], "unset: follows data, so earlier runs keep their hashes")
        try c.set("swr_candidates", "with-replacement")
        try c.set("data", "paper")  // the order of keys does not matter: a set value wins
        XCTAssertEqual(c.swrCandidates, .withReplacement)
        XCTAssertEqual(c.jsonObject["swr_candidates"] as? String, "with-replacement")
        XCTAssertThrowsError(try c.set("swr_candidates", "sometimes"))
    }

    /// With PL candidates, V-PG-SwR's rollouts are exactly the Gumbel-top-K rollouts (K
    /// distinct items, no multiplicities) and its estimate is r Σ_k (e_{σ_k} − π).
    func testPlackettLuceCandidatesGiveTheSwRGradientOfThePLPrefix() throws {
        let n = 7, k = 3
        let world = PaperWorld(config: PaperWorldConfig(users: 2, items: n))
        let q = world.query(id: 0)
        let s = (0..<n).map { Double($0 % 3) * 0.7 - 0.5 }
        let sampler = RolloutSampler(k: k, lsr: LateStageRanker(temperature: 0), reward: .expected)
        let est = try PolicyGradientEstimator(kind: .vpgSwr, sampler: sampler, swrCandidates: .plackettLuce)
        XCTAssertFalse(est.drawsWithReplacement)
        for step in 0..<20 {
            let r = est.rollouts(scores: s, query: q, seed: 4, step: step, queryID: 0)[0]
            let pl = sampler.sample(scores: s, query: q, seed: 4, step: step, queryID: 0, sample: 0)
            XCTAssertEqual(r.candidates, pl.candidates)
            XCTAssertNil(r.multiplicities)
            XCTAssertEqual(Set(r.candidates).count, k)
            var g = [Double](repeating: 0, count: n)
            est.accumulate(rollouts: [r], scores: s, query: q, scale: 1, into: &g)
            let pi = StableMath.softmax(s)
            for i in 0..<n {
                let expected = r.reward * ((r.candidates.contains(i) ? 1 : 0) - Double(k) * pi[i])
                XCTAssertEqual(g[i], expected, accuracy: 1e-12)
            }
        }
        let iid = try PolicyGradientEstimator(kind: .vpgSwr, sampler: sampler)
        XCTAssertTrue(iid.drawsWithReplacement)
    }
}

extension CLITests {
    /// `capg diagnose RUN_DIR`: the initialization plus every checkpoint, one JSON line per
    /// (step, estimator); bad arguments are usage errors.
    func testDiagnoseReadsEveryCheckpointOfARun() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("capg-diag-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let t = try run(["train", "--data", "paper", "--items", "8", "--users", "8", "--k", "3", "--batch-size", "8",
                         "--steps", "4", "--eval-every", "4", "--checkpoint-every", "2", "--keep-checkpoints", "10",
                         "--estimator", "capg", "--inclusion", "prefix", "--set", "eval_queries=8", "--set", "queries=8",
                         "--run-dir", dir, "--quiet"])
        XCTAssertEqual(t.code, 0, t.err)
        let r = try run(["diagnose", dir, "--draws", "4", "--contexts", "2"])
        XCTAssertEqual(r.code, 0, r.err)
        let rows = try r.out.split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
        XCTAssertEqual(rows.count, 3 * 4)  // steps 0, 2, 4 × vpg, vpg-swr, capg, top1
        XCTAssertEqual(Set(rows.map { $0["step"] as! Int }), [0, 2, 4])
        XCTAssertEqual(rows.first { $0["estimator"] as? String == "capg" }?["inclusion"] as? String, "prefix")
        for row in rows {
            for key in ["variance_params", "cosine_to_exact", "vanishing_fraction", "exact_value", "trajectory_estimator"] {
                XCTAssertNotNil(row[key], key)
            }
        }
        for args in [["diagnose", dir, "--draws", "1"], ["diagnose", dir + "/nothing"], ["diagnose", dir, "--estimators", "ppo"]] {
            let b = try run(args)
            XCTAssertNotEqual(b.code, 0, "\(args)")
            XCTAssertFalse(b.err.isEmpty)
        }
    }
}
