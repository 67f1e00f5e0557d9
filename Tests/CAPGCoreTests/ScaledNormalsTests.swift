import CVectorMath
import XCTest

@testable import CAPGCore

/// `RandomStream.fillScaledNormals` and its kernel `capg_scaled_normals`: every Float is
/// bitwise `Float(z · scale)` of the libm Box–Muller normal z.
final class ScaledNormalsTests: XCTestCase {
    /// The kernel on raw words, both variants: random blocks and the edges of Box–Muller
    /// (the smallest and largest u₁, cos near its zeros and extremes); a decided value must
    /// be libm's, and the undecided list must be increasing and few.
    func testKernelDecidesOnlyLibmValues() {
        var rng = SplitMix64(seed: 11)
        var blocks: [[UInt32]] = (0..<200_000).map { _ in (0..<4).map { _ in UInt32(truncatingIfNeeded: rng.next()) } }
        let u1Words: [(UInt32, UInt32)] = [(0, 0), (0, 63), (31, 0xFFFF_FFFF), (1 << 5, 0), (.max, .max), (0x8000_0000, 0), (0x7FFF_FFFF, .max)]
        // u₂ = 0, ¼, ½, ¾ and 1 (cos = 1, 0, −1, 0, 1), each just above and below.
        var u2Words: [(UInt32, UInt32)] = [(0, 0), (.max, .max)]
        for quarter: UInt32 in [1, 2, 3] {
            let w = quarter << 30
            u2Words += [(w, 0), (w, 63), (w - 32, .max), (w, 1 << 6), (w - 32, .max - 64)]
        }
        for (a, b) in u1Words { for (c, d) in u2Words { blocks.append([a, b, c, d]) } }
        let words = blocks.flatMap { $0 }
        let n = blocks.count
        for scale in [1.0, 0.25, 0.125, -0.3, 1.5 / 4, 1e-3] {
            let expected = blocks.map { Float(RandomStream.boxMuller($0[0], $0[1], $0[2], $0[3]) * scale) }
            for generic in [false, true] {
                var out = [Float](repeating: .nan, count: n)
                var undecided = [Int32](repeating: -1, count: n)
                let left = generic ? capg_scaled_normals_generic(words, n, scale, &out, &undecided)
                    : capg_scaled_normals(words, n, scale, &out, &undecided)
                let skipped = Set(undecided[0..<left].map { Int($0) })
                XCTAssertEqual(Array(undecided[0..<left]), undecided[0..<left].sorted())
                XCTAssertLessThan(left, n / 50, "scale \(scale)")
                var wrong = 0
                for i in 0..<n where !skipped.contains(i) && out[i].bitPattern != expected[i].bitPattern { wrong += 1 }
                XCTAssertEqual(wrong, 0, "scale \(scale) generic \(generic)")
            }
        }
    }

    /// The Swift entry point (Philox chunks, threads, the libm fallback) against
    /// `normal(key:index:)` element by element, also across the 2³² block boundary.
    func testFillEqualsLibmPath() {
        let key = RandomKey(seed: 5, purpose: .parameterInit)
        for (first, count, threads, scale) in [(0, 1000, 1, 0.125), (17, 300_001, 2, 0.125), (3, 200_000, 3, 0.125),
                                               ((1 << 32) - 700, 1500, 1, 0.125), (0, 5000, 1, 0), (0, 5000, 1, -0.0),
                                               (0, 5000, 1, 1e-200), (0, 5000, 1, 1e-40), (0, 5000, 1, 1e30)] {
            var out = [Float](repeating: .nan, count: count)
            out.withUnsafeMutableBufferPointer {
                RandomStream.fillScaledNormals(key: key, first: first, count: count, scale: scale, threads: threads, into: $0.baseAddress!)
            }
            var wrong = 0
            for i in 0..<count where out[i].bitPattern != Float(RandomStream.normal(key: key, index: first + i) * scale).bitPattern {
                wrong += 1
            }
            XCTAssertEqual(wrong, 0, "first \(first) count \(count) threads \(threads) scale \(scale)")
        }
    }

    /// The tables drawn this way equal their element-wise definitions: the ESR's initial
    /// `[W | E | b]` and the environment's latents (against an item shard's environment,
    /// which regenerates the items it does not hold through `normal(key:index:)`).
    func testTablesEqualElementwiseDefinitions() {
        let shape = TwoTowerShape(items: 3000, embeddingDim: 16, contextDim: 8)
        let p = TwoTowerESR(shape: shape).initialParameters(seed: 9, initScale: 0.1)
        let key = RandomKey(seed: 9, purpose: .parameterInit)
        let sw = 1 / Double(shape.contextDim).squareRoot(), se = 0.1 / Double(shape.embeddingDim).squareRoot()
        var wrong = 0
        for i in 0..<shape.wCount where p[i].bitPattern != Float(RandomStream.normal(key: key, index: i) * sw).bitPattern { wrong += 1 }
        for i in 0..<shape.eCount
        where p[shape.eOffset + i].bitPattern != Float(RandomStream.normal(key: key, index: shape.wCount + i) * se).bitPattern {
            wrong += 1
        }
        XCTAssertEqual(wrong, 0)
        XCTAssertTrue(p[shape.bOffset...].allSatisfy { $0.bitPattern == 0 })

        var c = SyntheticConfig()
        c.items = 70_000; c.contextDim = 4
        let full = SyntheticEnvironment(config: c), shard = SyntheticEnvironment(config: c, storedItems: 0..<10)
        var differ = 0
        for item in stride(from: 10, to: c.items, by: 7) {
            for j in 0..<c.contextDim where full.latent(item, j).bitPattern != shard.latent(item, j).bitPattern { differ += 1 }
        }
        XCTAssertEqual(differ, 0)
    }
}
