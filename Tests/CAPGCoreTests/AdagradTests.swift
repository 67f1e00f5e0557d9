import XCTest
@testable import CAPGCore

final class AdagradTests: XCTestCase {
    /// Two steps by hand: G₁ = g₁², θ₁ = θ₀ + η g₁/(|g₁| + ε); G₂ = g₁² + g₂², θ₂ = θ₁ + η g₂/√G₂.
    func testUpdateByHand() {
        var opt = Adagrad(parameterCount: 2, learningRate: 0.1)
        var p: [Float] = [1, -1]
        opt.ascend(parameters: &p, gradient: [2, -0.5])
        XCTAssertEqual(p[0], 1.1, accuracy: 1e-6)
        XCTAssertEqual(p[1], -1.1, accuracy: 1e-6)
        opt.ascend(parameters: &p, gradient: [1, 0])
        XCTAssertEqual(p[0], 1.1 + 0.1 / Float(5).squareRoot(), accuracy: 1e-6)
        XCTAssertEqual(p[1], -1.1, accuracy: 1e-6)
        XCTAssertEqual(opt.g2, [5, 0.25])
        XCTAssertEqual(opt.updates, 2)
    }

    /// State round trip: restoring `adagrad.g2` continues the trajectory bitwise; a missing or
    /// wrongly sized buffer is refused by name.
    func testRestoreContinuesBitwise() throws {
        var a = Adagrad(parameterCount: 3, learningRate: 0.05)
        var pa: [Float] = [0, 0, 0]
        a.ascend(parameters: &pa, gradient: [1, 2, 3])
        var b = Adagrad(parameterCount: 3, learningRate: 0.05)
        try b.restore(updates: a.updates, buffers: Dictionary(uniqueKeysWithValues: a.stateBuffers.map { ($0.name, $0.values) }))
        var pb = pa
        a.ascend(parameters: &pa, gradient: [0.5, -1, 2])
        b.ascend(parameters: &pb, gradient: [0.5, -1, 2])
        XCTAssertEqual(pa, pb)
        XCTAssertThrowsError(try b.restore(updates: 1, buffers: ["adagrad.g2": [1]])) {
            XCTAssertTrue("\($0)".contains("adagrad.g2"))
        }
        XCTAssertEqual(OptimizerKind.adagrad.make(parameterCount: 4, learningRate: 0.1).stateBuffers.map(\.name), ["adagrad.g2"])
    }
}
