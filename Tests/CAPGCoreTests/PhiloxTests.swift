import CVectorMath
import XCTest
@testable import CAPGCore

final class PhiloxTests: XCTestCase {
    /// Known-answer vectors of Random123's kat_vectors for philox4x32-10.
    func testKnownAnswerVectors() {
        let cases: [(SIMD4<UInt32>, SIMD2<UInt32>, SIMD4<UInt32>)] = [
            (SIMD4(0, 0, 0, 0), SIMD2(0, 0), SIMD4(0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8)),
            (SIMD4(.max, .max, .max, .max), SIMD2(.max, .max), SIMD4(0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd)),
            (SIMD4(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344), SIMD2(0xa4093822, 0x299f31d0),
             SIMD4(0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1)),
        ]
        for (ctr, key, expected) in cases {
            XCTAssertEqual(Philox4x32.block(counter: ctr, key: key), expected)
        }
    }

    func testStreamsAreKeyedAndReproducible() {
        let k1 = RandomKey(seed: 9, purpose: .candidateSampling, step: 3, query: 17, sample: 2)
        var a = RandomStream(k1), b = RandomStream(k1)
        for _ in 0..<100 { XCTAssertEqual(a.nextWord(), b.nextWord()) }
        var c = RandomStream(RandomKey(seed: 9, purpose: .candidateSampling, step: 3, query: 18, sample: 2))
        var d = RandomStream(RandomKey(seed: 9, purpose: .reward, step: 3, query: 17, sample: 2))
        var e = RandomStream(k1)
        let x = (0..<8).map { _ in e.nextWord() }
        XCTAssertNotEqual(x, (0..<8).map { _ in c.nextWord() })
        XCTAssertNotEqual(x, (0..<8).map { _ in d.nextWord() })
    }

    func testRandomAccessNormalMatchesSequential() {
        let key = RandomKey(seed: 4, purpose: .lateStageNoise, query: 5)
        var s = RandomStream(key)
        for i in 0..<50 { XCTAssertEqual(s.normal(), RandomStream.normal(key: key, index: i)) }
    }

    /// Uniform, normal and Gumbel moments within 6 standard errors (n = 200000, fixed key).
    func testDistributionMoments() {
        var s = RandomStream(RandomKey(seed: 1, purpose: .variance))
        let n = 200_000
        var mu = 0.0, mn = 0.0, mn2 = 0.0, mg = 0.0
        for _ in 0..<n {
            let u = s.uniform(); XCTAssert(u > 0 && u < 1)
            mu += u
            let z = s.normal(); mn += z; mn2 += z * z
            mg += s.gumbel()
        }
        let dn = Double(n)
        XCTAssertEqual(mu / dn, 0.5, accuracy: 6 * (1.0 / 12).squareRoot() / dn.squareRoot())
        XCTAssertEqual(mn / dn, 0, accuracy: 6 / dn.squareRoot())
        XCTAssertEqual(mn2 / dn, 1, accuracy: 6 * 2.0.squareRoot() / dn.squareRoot())
        // Gumbel: mean = Euler–Mascheroni γ, variance π²/6.
        XCTAssertEqual(mg / dn, 0.5772156649, accuracy: 6 * (Double.pi * Double.pi / 6).squareRoot() / dn.squareRoot())
    }

    /// The bulk normals equal the sequential stream's and the random-access ones bitwise, in
    /// chunks of any length and across the 2³² block boundary, where random access now
    /// continues in the step word instead of repeating normal 0.
    func testBulkNormalsMatchStreamAndRandomAccess() {
        let key = RandomKey(seed: 0x1234_5678_9ABC, purpose: .parameterInit)
        var stream = RandomStream(key)
        let sequential = (0..<1000).map { _ in stream.normal() }
        for (first, count) in [(0, 1000), (0, 0), (3, 1), (255, 258), (511, 489)] {
            var got = [Double](repeating: .nan, count: count)
            RandomStream.forEachNormal(key: key, first: first, count: count) { i, z in got[i] = z }
            XCTAssertEqual(got.map(\.bitPattern), sequential[first..<(first + count)].map(\.bitPattern), "\(first)+\(count)")
            for i in stride(from: 0, to: count, by: 97) {
                XCTAssertEqual(RandomStream.normal(key: key, index: first + i).bitPattern, got[i].bitPattern)
            }
        }
        let edge = (1 << 32) - 300
        var across = [Double](repeating: .nan, count: 600)
        RandomStream.forEachNormal(key: key, first: edge, count: 600) { i, z in across[i] = z }
        for i in 0..<600 { XCTAssertEqual(across[i].bitPattern, RandomStream.normal(key: key, index: edge + i).bitPattern) }
        XCTAssertEqual(across[299].bitPattern, RandomStream.normal(key: key, index: (1 << 32) - 1).bitPattern)
        // Index 2³² + j is a new number, not normal j again.
        for j in 0..<300 { XCTAssertNotEqual(across[300 + j], sequential[j]) }
    }

    /// The C kernel behind `PhiloxBatch.fill` (its AVX2 variant on a CPU with AVX2) and its
    /// generic variant both write exactly the words a `RandomStream` reads, for many keys,
    /// every length 0…100 blocks (all tail sizes around the 8- and 16-block groups), large
    /// lengths, start blocks whose counter wraps at 2³², and output pointers at every
    /// 4-byte offset from a 64-byte boundary; and neither writes outside `out`.
    func testPhiloxKernelEqualsStream() {
        let purposes = RandomPurpose.allCases
        var keys: [RandomKey] = [RandomKey(seed: 0, purpose: .parameterInit),
                                 RandomKey(seed: .max, purpose: .bootstrap, step: Int(UInt32.max), query: Int(UInt32.max),
                                           sample: (1 << 24) - 1)]
        var g = SplitMix64(seed: 0x5EED)
        for i in 0..<24 {
            keys.append(RandomKey(seed: g.next(), purpose: purposes[i % purposes.count], step: Int(g.next() % 1000),
                                  query: Int(g.next() & 0xFFFF_FFFF), sample: Int(g.next() % (1 << 24))))
        }
        var lengths = Array(0...100) + [127, 128, 129, 255, 256, 1000, 4099]
        lengths += [1 << 14, (1 << 14) + 13]
        let starts: [UInt32] = [0, 1, 7, 1000, UInt32.max - 4, UInt32.max - 5, UInt32.max - 17, UInt32.max]
        let guardWord: UInt32 = 0xA5A5_5A5A
        let maxWords = 4 * lengths.max()!
        let raw = UnsafeMutableRawPointer.allocate(byteCount: 4 * (maxWords + 32), alignment: 64)
        defer { raw.deallocate() }
        let base = raw.bindMemory(to: UInt32.self, capacity: maxWords + 32)
        var checked = 0
        for (ki, key) in keys.enumerated() {
            for (li, blocks) in lengths.enumerated() {
                // Large lengths for a few keys only (the stream reference is scalar).
                if blocks > 300 && ki % 8 != 0 { continue }
                let first = starts[(ki + li) % starts.count]
                let offset = (ki + li) % 8  // words past a 64-byte boundary
                var stream = RandomStream(key)
                stream.advance(words: 4 * Int(first))
                let expected = (0..<(4 * blocks)).map { _ in stream.nextWord() }
                for generic in [false, true] {
                    base.initialize(repeating: guardWord, count: maxWords + 32)
                    let out = UnsafeMutableBufferPointer(start: base + offset, count: 4 * blocks)
                    if generic { PhiloxBatch.fillGeneric(out, key: key, firstBlock: first) }
                    else { PhiloxBatch.fill(out, key: key, firstBlock: first) }
                    let ok = Array(out) == expected
                    XCTAssert(ok, "\(generic ? "generic" : "dispatched") kernel: key \(ki), \(blocks) blocks from \(first), offset \(offset)")
                    for i in 0..<offset where base[i] != guardWord { XCTFail("wrote before out (\(blocks) blocks)"); break }
                    for i in (offset + 4 * blocks)..<(maxWords + 32) where base[i] != guardWord {
                        XCTFail("wrote past out (\(blocks) blocks, word \(i))"); break
                    }
                    if !ok { return }
                    checked += 1
                }
            }
        }
        XCTAssertGreaterThan(checked, 5000)
        // The known-answer vectors through the kernel (counter (b, c1, c2, c3) = key.counter(block: b)).
        var kat = [UInt32](repeating: 0, count: 4)
        kat.withUnsafeMutableBufferPointer { capg_philox4x32_fill($0.baseAddress!, 1, .max, .max, .max, .max, .max, .max) }
        XCTAssertEqual(kat, [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd])
        kat.withUnsafeMutableBufferPointer {
            capg_philox4x32_fill_generic($0.baseAddress!, 1, 0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0)
        }
        XCTAssertEqual(kat, [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1])
    }

    /// The kernel's CPU check shares the exp kernel's detection: a CPU on which `VectorExp`
    /// runs its AVX2+FMA variant runs the AVX2 Philox too (printed, so a log shows which
    /// variant `testPhiloxKernelEqualsStream` exercised besides the generic one).
    func testPhiloxKernelVariant() {
        print("PhiloxBatch uses AVX2: \(PhiloxBatch.usesAVX2); VectorExp uses AVX2+FMA: \(VectorExp.usesAVX2)")
        if VectorExp.usesAVX2 { XCTAssertTrue(PhiloxBatch.usesAVX2) }
    }
}
