import CVectorMath
import XCTest

@testable import CAPGCore

/// The vectorized reductions (`capg_sum_squares_f32`, `capg_max_f64`): the AVX2 and generic
/// variants agree bitwise, the documented lane order is the one computed, and the maximum
/// equals the scalar loop it replaced (NaNs ignored, −∞ when empty).
final class ReductionKernelTests: XCTestCase {
    func testSumOfSquaresFollowsItsLaneOrderOnEveryVariant() {
        var r = RandomStream(RandomKey(seed: 9, purpose: .variance, query: 3))
        for n in Array(0...33) + [1000, 4099] {
            let x = (0..<n).map { _ in Float(r.normal() * 3) }
            var lanes = [Double](repeating: 0, count: 8)
            for (i, v) in x.enumerated() { lanes[i % 8] += Double(v) * Double(v) }
            let expected = ((lanes[0] + lanes[1]) + (lanes[2] + lanes[3])) + ((lanes[4] + lanes[5]) + (lanes[6] + lanes[7]))
            x.withUnsafeBufferPointer { b in
                let p = b.baseAddress ?? UnsafePointer(bitPattern: 8)!
                XCTAssertEqual(capg_sum_squares_f32(p, n).bitPattern, expected.bitPattern, "n = \(n)")
                XCTAssertEqual(capg_sum_squares_f32_generic(p, n).bitPattern, expected.bitPattern, "n = \(n)")
                XCTAssertEqual(StableMath.sumOfSquares(b).bitPattern, expected.bitPattern)
                // An unaligned start changes nothing but which items are summed.
                if n > 1 {
                    let tail = UnsafeBufferPointer(rebasing: b[1...])
                    XCTAssertEqual(StableMath.sumOfSquares(tail), capg_sum_squares_f32_generic(tail.baseAddress!, n - 1))
                }
            }
        }
    }

    func testMaximumIsTheScalarLoopIgnoringNaN() {
        var r = RandomStream(RandomKey(seed: 10, purpose: .variance, query: 4))
        for n in Array(0...33) + [777] {
            var x = (0..<n).map { _ in r.normal() * 100 }
            if n > 5 { x[3] = .nan; x[n - 1] = .nan }
            var m = -Double.infinity
            for v in x where v > m { m = v }
            XCTAssertEqual(StableMath.maximum(x), m, "n = \(n)")
            x.withUnsafeBufferPointer { b in
                if let p = b.baseAddress { XCTAssertEqual(capg_max_f64_generic(p, n), m) }
            }
        }
        XCTAssertEqual(StableMath.maximum([Double.nan, .nan]), -.infinity)
        XCTAssertEqual(StableMath.maximum([Double]()), -.infinity)
        XCTAssertEqual(StableMath.maximum([-.infinity, 5, .infinity, 2]), .infinity)
    }
}
