import CAPGCore
import Foundation
import XCTest
@testable import CAPGTrain

/// Training the LSR from downstream reward (issue 9): on a synthetic problem whose fixed LSR
/// is blind to the reward (`lsr_alignment = 0`: ℓ is noise), a learned LSR raises the value.
final class LearnedLSRTrainingTests: XCTestCase {
    func misaligned(_ mode: LateStageMode) -> TrainingConfig {
        var c = TrainingConfig()
        c.items = 300; c.dim = 16; c.k = 10; c.batchSize = 32; c.steps = 40; c.lr = 0.02
        c.lsrAlignment = 0; c.lsrTemperature = 0.1; c.lsrMode = mode; c.reward = .expected
        c.evalQueries = 64; c.evalSamples = 4; c.evalEvery = 40
        return c
    }

    /// ESR frozen, LSR trained: the same candidate sets become worth much more, because the
    /// learned LSR picks the good items among them. Deterministic (fixed seeds); the margin
    /// (0.1 in value, whose evaluation error here is ≈ 0.01) is far from the observed gain.
    func testLearnedLSRImprovesValueOverMisalignedFixedLSR() throws {
        let t = try Trainer(config: misaligned(.lsrOnly), communicator: SingleProcessCommunicator())
        let before = t.evaluate().value
        let esr = t.parameters
        for _ in 0..<40 { _ = try t.trainStep() }
        let after = t.evaluate().value
        XCTAssertEqual(t.parameters, esr, "lsr-only must not move the ESR")
        XCTAssertGreaterThan(after, before + 0.1, "learned LSR value \(after) vs the fixed LSR's \(before)")
        // The weight moved off the (uninformative) fixed score onto the reward's features.
        let w = t.lateStageWeights
        XCTAssertGreaterThan(w[0..<w.count - 1].reduce(0) { $0 + Double($1) }, 0.5, "\(w)")
    }

    /// Joint training beats training the ESR alone under the same misaligned fixed LSR.
    func testJointTrainingBeatsFixedLSR() throws {
        let fixed = try TrainingRun(config: misaligned(.fixed), runDirectory: nil, quiet: true)
            .run(communicator: SingleProcessCommunicator())
        let joint = try TrainingRun(config: misaligned(.joint), runDirectory: nil, quiet: true)
            .run(communicator: SingleProcessCommunicator())
        XCTAssertGreaterThan(joint.finalValue, fixed.finalValue + 0.1, "joint \(joint.finalValue) vs fixed \(fixed.finalValue)")
    }

    /// Learned modes need a softmax LSR, and data with LSR features.
    func testLearnedLSRConfigErrors() {
        var c = misaligned(.joint); c.lsrTemperature = 0
        XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".contains("lsr_temperature > 0"), "\($0)") }
        c = misaligned(.joint); c.data = .obd; c.obdDir = "/x"
        XCTAssertThrowsError(try c.validate()) { XCTAssertTrue("\($0)".contains("not available for data obd"), "\($0)") }
        c = TrainingConfig()
        XCTAssertThrowsError(try c.set("lsr_mode", "both")) { XCTAssertTrue("\($0)".contains("fixed|lsr-only|joint|alternating"), "\($0)") }
    }
}
