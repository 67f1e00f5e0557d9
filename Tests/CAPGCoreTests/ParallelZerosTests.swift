import XCTest

@testable import CAPGCore

/// `ParallelZeros.floats` is `[Float](repeating: 0, count:)` for every count and thread count.
final class ParallelZerosTests: XCTestCase {
    func testZerosForAnySplit() {
        for count in [0, 1, 1 << 18, 3 << 18 + 5] {
            for threads in [1, 2, 3] {
                let z = ParallelZeros.floats(count, threads: threads)
                XCTAssertEqual(z.count, count)
                XCTAssertTrue(z.allSatisfy { $0.bitPattern == 0 }, "count \(count) threads \(threads)")
            }
        }
    }
}
