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
}
