import CAPGCore
import CAPGTrain
import Foundation
import XCTest
@testable import CAPGCheckpoint

/// Damaged files are always rejected with a `CheckpointError`, never a crash or a load.
final class CheckpointCorruptionTests: XCTestCase {
    /// Byte ranges of the frames of a valid file (header, chunks..., trailer).
    func frames(_ b: [UInt8]) -> [Range<Int>] {
        var out: [Range<Int>] = [], pos = 8
        while pos < b.count {
            let len = Int(b[pos]) | Int(b[pos + 1]) << 8 | Int(b[pos + 2]) << 16 | Int(b[pos + 3]) << 24
            out.append(pos..<(pos + 8 + len)); pos += 8 + len
        }
        return out
    }

    /// 1,100 variants with a fixed seed: 400 single-bit flips, 100 multi-bit flips, 200
    /// truncations, 150 appended garbage, 150 swapped chunk frames, 50 dropped and 50
    /// duplicated chunk frames. Each must throw a CheckpointError.
    func testCorruptedVariantsAreRejected() throws {
        let snap = try Fixture.snapshot()
        let good = try CheckpointEncoder(chunkBytes: 256, createdUnixMs: 0).encode(snap)
        let fr = frames(good)
        let chunks = Array(fr.dropFirst().dropLast())
        XCTAssertGreaterThan(chunks.count, 8)
        var g = SplitMix(seed: 2024)
        var variants: [(String, [UInt8])] = []
        for _ in 0..<400 {
            var b = good; let i = g.below(b.count); b[i] ^= UInt8(1) << UInt8(g.below(8))
            variants.append(("bit flip", b))
        }
        for _ in 0..<100 {
            var b = good
            for _ in 0..<(2 + g.below(7)) { b[g.below(b.count)] ^= UInt8(1) << UInt8(g.below(8)) }
            if b != good { variants.append(("multi-bit flip", b)) }
        }
        for _ in 0..<200 { variants.append(("truncation", Array(good.prefix(g.below(good.count))))) }
        for _ in 0..<150 {
            let extra = (0..<(1 + g.below(64))).map { _ in UInt8(truncatingIfNeeded: g.next()) }
            variants.append(("appended garbage", good + extra))
        }
        func splice(_ parts: [Range<Int>]) -> [UInt8] { Array(good[0..<8]) + parts.flatMap { good[$0] } }
        for _ in 0..<150 {
            let i = g.below(chunks.count); var j = g.below(chunks.count)
            if i == j { j = (j + 1) % chunks.count }
            var order = fr; order.swapAt(i + 1, j + 1)
            variants.append(("swapped chunks", splice(order)))
        }
        for _ in 0..<50 {
            var order = fr; order.remove(at: 1 + g.below(chunks.count))
            variants.append(("dropped chunk", splice(order)))
        }
        for _ in 0..<50 {
            var order = fr; let i = 1 + g.below(chunks.count); order.insert(fr[i], at: i)
            variants.append(("duplicated chunk", splice(order)))
        }
        XCTAssertGreaterThanOrEqual(variants.count, 1000)
        var histogram: [String: Int] = [:]
        for (what, bytes) in variants {
            do {
                _ = try CheckpointDecoder.decode(bytes)
                XCTFail("\(what): a damaged file was accepted")
            } catch let e as CheckpointError {
                histogram[Mirror(reflecting: e).children.first?.label ?? "\(e)", default: 0] += 1
            } catch {
                XCTFail("\(what): untyped error \(error)")
            }
        }
        print("corruption trials: \(variants.count) variants rejected; by error: \(histogram.sorted { $0.key < $1.key })")
    }

    /// Random bytes, and random bytes behind a valid magic, are rejected too.
    func testRandomBytesAreRejected() {
        var g = SplitMix(seed: 99)
        for i in 0..<200 {
            var b = (0..<g.below(400)).map { _ in UInt8(truncatingIfNeeded: g.next()) }
            if i % 2 == 0 { b = CheckpointFormat.magic + b }
            XCTAssertThrowsError(try CheckpointDecoder.decode(b)) { XCTAssertTrue($0 is CheckpointError) }
        }
    }
}
