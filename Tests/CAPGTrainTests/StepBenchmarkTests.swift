import CAPGCore
import XCTest
@testable import CAPGTrain

/// `StepBenchmark` on a tiny configuration: every variant is timed and re-enacted phase by
/// phase, and the ceilings are measured, with the threshold CA-PG step's own ceiling the
/// shared one plus its two per-item passes.
final class StepBenchmarkTests: XCTestCase {
    func testTinyBenchReportsPhasesAndPerVariantCeilings() throws {
        var bench = StepBenchmark()
        bench.items = 500; bench.dim = 8; bench.contextDim = 4; bench.k = 5; bench.batchSize = 4
        bench.steps = 2; bench.warmup = 1
        bench.variants = ["vpg", "capg-threshold", "capg-independent"].compactMap(StepBenchmark.Variant.named)
        let report = try bench.run(communicator: SingleProcessCommunicator())
        XCTAssertEqual(report.results.map(\.variant.name), ["vpg", "capg-threshold", "capg-independent"])
        for r in report.results {
            XCTAssertEqual(r.stepSeconds.count, 2)
            XCTAssertTrue(r.stepSeconds.allSatisfy { $0 > 0 }, "\(r.variant.name)")
            XCTAssertNotNil(r.phases, "\(r.variant.name)")
        }
        let c = try XCTUnwrap(report.ceilings)
        XCTAssertGreaterThan(c.thresholdSplitItemsPerSecond, 0)
        XCTAssertGreaterThan(c.thresholdDecayItemsPerSecond, 0)
        let values = Double(bench.batchSize * bench.items)
        XCTAssertEqual(c.thresholdSeconds,
                       values * (1 / c.thresholdSplitItemsPerSecond + 1 / c.thresholdDecayItemsPerSecond) / Double(c.threads),
                       accuracy: 1e-15)
        XCTAssertEqual(c.stepSeconds(for: report.results[0].variant), c.stepSeconds)
        XCTAssertEqual(c.stepSeconds(for: report.results[1].variant), c.stepSeconds + c.thresholdSeconds)
        XCTAssertEqual(c.stepSeconds(for: report.results[2].variant), c.stepSeconds, "only the threshold solve makes the passes")
    }
}
