import CVectorMath
import XCTest

@testable import CAPGCore

/// The SHA-256 block kernel: the SHA-extension variant (when this CPU has it) and the
/// portable one give the same state on every block count, from several starting states.
/// (The digests themselves are checked against FIPS 180-4 answers in `TrainTests`.)
final class SHA256KernelTests: XCTestCase {
    func testVariantsAgreeOnEveryBlockCount() {
        var r = RandomStream(RandomKey(seed: 11, purpose: .variance, query: 4))
        let data = (0..<(64 * 1000)).map { _ in UInt8(truncatingIfNeeded: r.nextWord()) }
        let initial: [UInt32] = [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]
        data.withUnsafeBufferPointer { d in
            for blocks in Array(0...40) + [999, 1000] {
                for start in [initial, (0..<8).map { _ in r.nextWord() }] {
                    var a = start, b = start
                    a.withUnsafeMutableBufferPointer { capg_sha256_blocks($0.baseAddress!, d.baseAddress!, blocks) }
                    b.withUnsafeMutableBufferPointer { capg_sha256_blocks_generic($0.baseAddress!, d.baseAddress!, blocks) }
                    XCTAssertEqual(a, b, "\(blocks) blocks")
                    if blocks > 0 { XCTAssertNotEqual(a, start) }
                }
            }
            // An unaligned start: the same as the aligned copy of those bytes.
            let copy = Array(d[1..<(1 + 64 * 5)])
            var a = initial, b = initial
            a.withUnsafeMutableBufferPointer { capg_sha256_blocks($0.baseAddress!, d.baseAddress! + 1, 5) }
            copy.withUnsafeBufferPointer { c in b.withUnsafeMutableBufferPointer { capg_sha256_blocks_generic($0.baseAddress!, c.baseAddress!, 5) } }
            XCTAssertEqual(a, b)
        }
        print("SHA-256 kernel: SHA extensions \(capg_sha256_uses_shani() == 1 ? "used" : "not available")")
    }
}
