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
        }
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
