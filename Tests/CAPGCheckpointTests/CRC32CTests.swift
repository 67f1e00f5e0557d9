import XCTest
@testable import CAPGCheckpoint

final class CRC32CTests: XCTestCase {
    /// The published check value and RFC 3720 (iSCSI) test vectors.
    func testKnownAnswers() {
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)), 0x62A8_AB43)
        XCTAssertEqual(CRC32C.checksum((0..<32).map { UInt8($0) }), 0x46DD_794E)
        XCTAssertEqual(CRC32C.checksum([]), 0)
    }

    /// Unaligned starts and odd lengths agree with a bytewise reference; combine(A, B)
    /// equals the checksum of A ‖ B.
    func testSlicingAndCombine() {
        var g = SplitMix(seed: 7)
        let data = (0..<1000).map { _ in UInt8(truncatingIfNeeded: g.next()) }
        func reference(_ b: ArraySlice<UInt8>) -> UInt32 {
            var c: UInt32 = 0xFFFF_FFFF
            for x in b {
                c ^= UInt32(x)
                for _ in 0..<8 { c = c & 1 != 0 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
            }
            return ~c
        }
        for _ in 0..<50 {
            let a = Int(g.next() % 500), b = a + Int(g.next() % 500)
            let crc = data.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[a..<b])) }
            XCTAssertEqual(crc, reference(data[a..<b]))
            let m = a + (b - a) / 3
            let left = reference(data[a..<m]), right = reference(data[m..<b])
            XCTAssertEqual(CRC32C.combine(left, right, lengthB: b - m), crc)
        }
    }

    /// The crc32-instruction path (when this CPU has it) and the tables give the same checksum
    /// for every start alignment and length 0…300, and on 1 MB fed in uneven pieces.
    func testInstructionAndTablesAgree() {
        var g = SplitMix(seed: 11)
        let data = (0..<(1 << 20)).map { _ in UInt8(truncatingIfNeeded: g.next()) }
        data.withUnsafeBytes { all in
            for start in 0..<9 {
                for length in 0...300 {
                    let slice = UnsafeRawBufferPointer(rebasing: all[start..<(start + length)])
                    var tables = CRC32C()
                    tables.updateWithTables(slice)
                    XCTAssertEqual(CRC32C.checksum(slice), tables.value, "start \(start) length \(length)")
                }
            }
            var pieces = CRC32C(), tables = CRC32C()
            var i = 0, step = 1
            while i < all.count {
                let j = min(all.count, i + step)
                pieces.update(UnsafeRawBufferPointer(rebasing: all[i..<j]))
                i = j
                step = step * 3 % 4099 + 1
            }
            tables.updateWithTables(all)
            XCTAssertEqual(pieces.value, tables.value)
        }
        print("CRC-32C: crc32 instruction \(CRC32C.hardware ? "used" : "not available")")
    }
}

/// A small deterministic generator for test randomness.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func below(_ n: Int) -> Int { Int(next() % UInt64(n)) }
}
