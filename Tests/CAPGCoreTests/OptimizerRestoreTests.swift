import CAPGCore
import XCTest

/// `OptimizerKind.restored` (used by the item-sharded resume to avoid allocating zero state
/// it would throw away) continues exactly like `make` followed by `restore`.
final class OptimizerRestoreTests: XCTestCase {
    func testRestoredContinuesLikeMakeThenRestore() throws {
        let n = 37
        let gradient = (0..<n).map { Float(sin(Double($0))) }
        for kind in OptimizerKind.allCases {
            var trained = kind.make(parameterCount: n, learningRate: 0.05)
            var p = [Float](repeating: 0.5, count: n)
            for _ in 0..<3 { trained.ascend(parameters: &p, gradient: gradient) }
            let buffers = Dictionary(uniqueKeysWithValues: trained.stateBuffers.map { ($0.name, $0.values) })
            var a = kind.make(parameterCount: n, learningRate: 0.05)
            try a.restore(updates: trained.updates, buffers: buffers)
            var b = try kind.restored(parameterCount: n, learningRate: 0.05, updates: trained.updates, buffers: buffers)
            var pa = p, pb = p
            a.ascend(parameters: &pa, gradient: gradient)
            b.ascend(parameters: &pb, gradient: gradient)
            XCTAssertEqual(pa, pb, "\(kind)")
            XCTAssertEqual(b.updates, 4, "\(kind)")
            if !buffers.isEmpty {
                XCTAssertThrowsError(try kind.restored(parameterCount: n + 1, learningRate: 0.05, updates: 3, buffers: buffers), "\(kind)")
                XCTAssertThrowsError(try kind.restored(parameterCount: n, learningRate: 0.05, updates: 3, buffers: [:]), "\(kind)")
            }
        }
    }
}
