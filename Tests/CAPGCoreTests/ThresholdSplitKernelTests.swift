import CVectorMath
import XCTest
@testable import CAPGCore

/// The vectorized hot/cold split (`capg_threshold_split`, `capg_threshold_exp_split`,
/// `capg_threshold_subtract_cold_decay`) behind `ThresholdHotCold`.
final class ThresholdSplitKernelTests: XCTestCase {
    /// The documented order: item i into lane i mod 4, lanes as (l0 + l1) + (l2 + l3).
    func laneReference(_ w: [Double], cut: Double) -> (moments: [Double], hot: [Int32]) {
        var lanes = [[Double]](repeating: [0, 0, 0, 0], count: 8)
        var hot: [Int32] = []
        for (i, wi) in w.enumerated() {
            let isHot = wi > cut
            if isHot { hot.append(Int32(i)) }
            let v = isHot ? 0 : wi
            let v2 = v * v, v3 = v2 * v, v4 = v2 * v2
            let p = [v, v2, v3, v4, v4 * v, v4 * v2, v4 * v3, v4 * v4]
            for m in 0..<8 { lanes[m][i % 4] += p[m] }
        }
        return (lanes.map { ($0[0] + $0[1]) + ($0[2] + $0[3]) }, hot)
    }

    func split(_ w: [Double], cut: Double, generic: Bool = false, offset: Int = 0) -> (moments: [Double], hot: [Int32], sum: Double) {
        let n = w.count
        let buffer = UnsafeMutablePointer<Double>.allocate(capacity: n + offset + 1)
        defer { buffer.deallocate() }
        (buffer + offset).initialize(from: w, count: n)
        var hot = [Int32](repeating: -1, count: Swift.max(n, 1))
        var r = capg_threshold_split_result()
        hot.withUnsafeMutableBufferPointer { h in
            if generic {
                capg_threshold_split_generic(buffer + offset, n, cut, h.baseAddress!, &r)
            } else {
                capg_threshold_split(buffer + offset, n, cut, h.baseAddress!, &r)
            }
        }
        let m = r.moments
        return ([m.0, m.1, m.2, m.3, m.4, m.5, m.6, m.7], Array(hot[0..<r.hot_count]), r.sum)
    }

    func randomWeights(_ n: Int, cut: Double, generator g: inout SplitMix64) -> [Double] {
        (0..<n).map { i in
            switch g.next() % 8 {
            case 0: return cut                       // on the boundary: cold
            case 1: return cut.nextUp                // just above: hot
            case 2: return cut * (1 + Double(g.next() % 1000) / 100)   // hot
            case 3: return 0
            default: return cut * Double(g.next() % 1_000_000) / 1_000_000 * (i % 3 == 0 ? 1e-3 : 1)
            }
        }
    }

    func testMatchesLaneOrderAndLongDoubleForEveryTailLength() {
        var g = SplitMix64(seed: 7)
        let cut = 0.05 / 1.7
        for n in Array(0...33) + [64, 1000, 1031, 4099] {
            let w = randomWeights(n, cut: cut, generator: &g)
            let got = split(w, cut: cut)
            let ref = laneReference(w, cut: cut)
            XCTAssertEqual(got.hot, ref.hot, "n=\(n)")
            for m in 0..<8 {
                XCTAssertEqual(got.moments[m].bitPattern, ref.moments[m].bitPattern, "n=\(n) S_\(m + 1)")
                var exact: Float80 = 0
                for wi in w where !(wi > cut) {
                    var p: Float80 = 1
                    for _ in 0...m { p *= Float80(wi) }
                    exact += p
                }
                let tolerance = 1e-14 * Double(Swift.max(n, 1)) * Double(exact)
                XCTAssertLessThanOrEqual(Swift.abs(Double(Float80(got.moments[m]) - exact)), tolerance, "n=\(n) S_\(m + 1)")
            }
            // Σw in capg_exp_shifted's order: eight partials over 8-blocks, the tail sequentially.
            var acc = [Double](repeating: 0, count: 8), tail = 0.0
            let full = n / 8 * 8
            for i in 0..<full { acc[i % 8] += w[i] }
            for i in full..<n { tail += w[i] }
            for j in 0..<8 { tail += acc[j] }
            XCTAssertEqual(got.sum.bitPattern, tail.bitPattern, "n=\(n)")
        }
    }

    func testAllHotAllColdAndGenericVariantAgreeBitwise() {
        let cut = 0.01
        for n in [0, 1, 3, 4, 5, 8, 13, 33, 257] {
            let allHot = (0..<n).map { 0.02 + Double($0) }
            let h = split(allHot, cut: cut)
            XCTAssertEqual(h.hot, (0..<n).map(Int32.init))
            XCTAssertEqual(h.moments, [Double](repeating: 0, count: 8))
            let allCold = (0..<n).map { 0.01 * Double($0 + 1) / Double(n + 1) }
            let c = split(allCold, cut: cut)
            XCTAssertEqual(c.hot, [])
            XCTAssertEqual(c.moments.map(\.bitPattern), laneReference(allCold, cut: cut).moments.map(\.bitPattern))
        }
        var g = SplitMix64(seed: 11)
        for n in [0, 5, 31, 32, 33, 999] {
            let w = randomWeights(n, cut: cut, generator: &g)
            let a = split(w, cut: cut), b = split(w, cut: cut, generic: true)
            XCTAssertEqual(a.moments.map(\.bitPattern), b.moments.map(\.bitPattern), "n=\(n)")
            XCTAssertEqual(a.hot, b.hot)
            XCTAssertEqual(a.sum.bitPattern, b.sum.bitPattern)
        }
    }

    func testIndependentOfPointerAlignment() {
        var g = SplitMix64(seed: 3)
        let cut = 0.003
        for n in [7, 33, 1000] {
            let w = randomWeights(n, cut: cut, generator: &g)
            let base = split(w, cut: cut)
            for offset in 1...3 {
                let shifted = split(w, cut: cut, offset: offset)
                XCTAssertEqual(shifted.moments.map(\.bitPattern), base.moments.map(\.bitPattern), "n=\(n) offset=\(offset)")
                XCTAssertEqual(shifted.hot, base.hot)
                XCTAssertEqual(shifted.sum.bitPattern, base.sum.bitPattern)
            }
        }
    }

    func testFusedExpSplitEqualsExpThenSplit() {
        var g = SplitMix64(seed: 5)
        for n in [1, 9, 1023, 1024, 1025, 3000] {
            let x = (0..<n).map { _ in -Double(g.next() % 20_000) / 1000 }
            var w1 = [Double](repeating: 0, count: n), w2 = w1
            var hot1 = [Int32](repeating: 0, count: n), hot2 = hot1
            let sum1 = x.withUnsafeBufferPointer { xb in w1.withUnsafeMutableBufferPointer { VectorExp.exp(xb, shift: 0.25, into: $0) } }
            let split1 = w1.withUnsafeBufferPointer { wb in
                hot1.withUnsafeMutableBufferPointer { ThresholdHotCold(weights: wb.baseAddress!, count: n, bound: 30, hot: $0.baseAddress!) }
            }
            let fused = x.withUnsafeBufferPointer { xb in
                w2.withUnsafeMutableBufferPointer { wb in
                    hot2.withUnsafeMutableBufferPointer {
                        ThresholdHotCold.withExps(xb.baseAddress!, shift: 0.25, count: n, bound: 30, weights: wb.baseAddress!,
                                                  hot: $0.baseAddress!)
                    }
                }
            }
            XCTAssertEqual(w1.map(\.bitPattern), w2.map(\.bitPattern), "n=\(n)")
            XCTAssertEqual(sum1.bitPattern, fused.sumWeights.bitPattern)
            XCTAssertEqual(split1.hotCount, fused.split.hotCount)
            XCTAssertEqual(Array(hot1[0..<split1.hotCount]), Array(hot2[0..<split1.hotCount]))
            for t in [0.5, 7.0, 30.0] {
                XCTAssertEqual(split1.coldSums(at: t).mass.bitPattern, fused.split.coldSums(at: t).mass.bitPattern)
            }
        }
    }

    func testColdDecayMatchesScalarForm() {
        var g = SplitMix64(seed: 9)
        for n in [0, 1, 5, 33, 1000] {
            let bound = 4.0, t = 3.0
            let w = randomWeights(n, cut: 0.05 / bound, generator: &g)
            let split = w.withUnsafeBufferPointer { wb in
                var hot = [Int32](repeating: 0, count: Swift.max(n, 1))
                let s = hot.withUnsafeMutableBufferPointer { ThresholdHotCold(weights: wb.baseAddress ?? UnsafePointer(bitPattern: 8)!, count: n, bound: bound, hot: $0.baseAddress!) }
                return (s, Array(hot[0..<s.hotCount]))
            }
            var got = (0..<n).map { Double($0) }
            var expected = got
            let c = 0.37
            for j in 0..<n {
                let e = w[j] > split.0.cut ? Foundation.exp(-w[j] * t) : ThresholdHotCold.coldExpNeg(w[j] * t)
                expected[j] -= c * w[j] * e
            }
            w.withUnsafeBufferPointer { wb in
                split.1.withUnsafeBufferPointer { hb in
                    got.withUnsafeMutableBufferPointer { gb in
                        split.0.subtractDecay(scale: c, t: t, weights: wb.baseAddress ?? UnsafePointer(bitPattern: 8)!, count: n,
                                              hot: hb, from: gb.baseAddress ?? UnsafeMutablePointer(bitPattern: 8)!)
                    }
                }
            }
            XCTAssertEqual(got.map(\.bitPattern), expected.map(\.bitPattern), "n=\(n)")
        }
    }

    func testRowConversionsMatchScalarLoops() {
        var g = SplitMix64(seed: 13)
        for n in Array(0...19) + [1000] {
            for special in [Float.nan, .infinity, -.infinity, 1] {
                var x = (0..<n).map { _ in Float(Int(g.next() % 2001) - 1000) / 37 }
                if n > 0 { x[Int(g.next() % UInt64(n))] = special }
                var out = [Double](repeating: 0, count: n)
                var top: Float = 0, bottom: Float = 0
                x.withUnsafeBufferPointer { xb in
                    out.withUnsafeMutableBufferPointer { capg_widen_minmax(xb.baseAddress, $0.baseAddress, n, &top, &bottom) }
                }
                var t = -Float.infinity, b = Float.infinity
                for v in x { t = v > t ? v : t; b = v < b ? v : b }
                XCTAssertEqual(top.bitPattern, t.bitPattern, "n=\(n)")
                XCTAssertEqual(bottom.bitPattern, b.bitPattern, "n=\(n)")
                XCTAssertEqual(out.map(\.bitPattern), x.map { Double($0).bitPattern })
                var row = x.map { Double($0) * 1.000001 }
                var y = (0..<n).map { Float($0) }
                let expected = zip(y, row).map { $0 + Float($1) }
                let flagged = row.withUnsafeMutableBufferPointer { r in
                    y.withUnsafeMutableBufferPointer { capg_narrow_add_clear(r.baseAddress, $0.baseAddress, n) }
                }
                XCTAssertEqual(y.map(\.bitPattern), expected.map(\.bitPattern))
                XCTAssertEqual(row, [Double](repeating: 0, count: n))
                XCTAssertEqual(flagged != 0, n > 0 && !special.isFinite, "n=\(n) special=\(special)")
            }
        }
    }

    /// `capg_narrow_set_clear` writes exactly what `capg_narrow_add_clear` adds into a zeroed
    /// row (−0 turns into +0 there too), in its AVX2 and generic variants, with the same
    /// non-finite flag and the Double row cleared; lengths around the vector width.
    func testNarrowSetEqualsAddIntoZeros() {
        var g = SplitMix64(seed: 29)
        for n in Array(0...19) + [1001] {
            for special in [Double.nan, .infinity, -0.0, 1e-300, 1] {
                var row = (0..<n).map { _ in Double(Int(g.next() % 2001) - 1000) / 37 }
                if n > 2 { row[0] = -0.0 }
                if n > 0 { row[Int(g.next() % UInt64(n))] = special }
                var added = [Float](repeating: 0, count: n), rowA = row
                let flagA = rowA.withUnsafeMutableBufferPointer { r in
                    added.withUnsafeMutableBufferPointer { capg_narrow_add_clear(r.baseAddress, $0.baseAddress, n) }
                }
                for variant in 0..<2 {
                    var set = [Float](repeating: 7, count: n), rowS = row
                    let flag = rowS.withUnsafeMutableBufferPointer { r in
                        set.withUnsafeMutableBufferPointer {
                            variant == 0 ? capg_narrow_set_clear(r.baseAddress, $0.baseAddress, n)
                                         : capg_narrow_set_clear_generic(r.baseAddress, $0.baseAddress, n)
                        }
                    }
                    XCTAssertEqual(set.map(\.bitPattern), added.map(\.bitPattern), "n=\(n) special=\(special) variant=\(variant)")
                    XCTAssertEqual(flag, flagA)
                    XCTAssertEqual(rowS.map(\.bitPattern), [UInt64](repeating: 0, count: n))
                }
                XCTAssertEqual(flagA != 0, n > 0 && !special.isFinite, "n=\(n) special=\(special)")
            }
        }
    }

    /// `capg_negscale_narrow_set` (both variants) writes what `g −= c·w` on a zeroed Double
    /// row followed by the set-narrowing writes, with the same flag (NaNs up to their sign).
    func testNegScaleNarrowEqualsSubtractThenNarrow() {
        var rng = SplitMix64(seed: 43)
        for n in Array(0...19) + [1001] {
            for c in [0.75, -2.5, 1e300, .infinity, .nan] {
                var w = (0..<n).map { _ in Double(rng.next() % 1000) / 999 }
                if n > 3 { w[1] = 0; w[2] = 1e-320 }
                var g = [Double](repeating: 0, count: n), expected = [Float](repeating: 0, count: n)
                for j in 0..<n { g[j] -= c * w[j] }
                let flagA = g.withUnsafeMutableBufferPointer { gb in
                    expected.withUnsafeMutableBufferPointer { capg_narrow_set_clear(gb.baseAddress, $0.baseAddress, n) }
                }
                for variant in 0..<2 {
                    var y = [Float](repeating: .nan, count: n)
                    let flag = w.withUnsafeBufferPointer { wb in y.withUnsafeMutableBufferPointer {
                        variant == 0 ? capg_negscale_narrow_set(wb.baseAddress, c, $0.baseAddress, n)
                                     : capg_negscale_narrow_set_generic(wb.baseAddress, c, $0.baseAddress, n)
                    } }
                    // Bitwise, but a NaN's sign may differ (the step stops on any NaN).
                    XCTAssertEqual(y.map { $0.isNaN ? Float.nan.bitPattern : $0.bitPattern },
                                   expected.map { $0.isNaN ? Float.nan.bitPattern : $0.bitPattern }, "n=\(n) c=\(c) variant=\(variant)")
                    XCTAssertEqual(flag, flagA, "n=\(n) c=\(c)")
                }
            }
        }
    }

    func testExpNegIsLibmExp() {
        for x in [0.0, 1, 700, 708.5, 745, 745.2, 745.8, 745.9, 746, 746.5, 1e6, .infinity] {
            XCTAssertEqual(ThresholdHotCold.expNeg(x).bitPattern, Foundation.exp(-x).bitPattern, "x=\(x)")
        }
    }

    /// The one-pass decay + narrowing against the two passes it replaces (the cold kernel on a
    /// zeroed Double row, then `capg_narrow_set_clear`), bitwise, AVX2 and generic, with NaN
    /// and ±∞ weights and both signs of the scale.
    func testColdDecayNarrowMatchesTwoPasses() {
        var g = SplitMix64(seed: 21)
        let bound = 2.5, t = 1.9
        let cut = 0.05 / bound
        for n in Array(0...33) + [1000, 4099] {
            for (c, special) in [(0.37, 0.0), (-2.5e3, Double.nan), (1e300, Double.infinity), (-0.0, 1.0)] {
                var w = randomWeights(n, cut: cut, generator: &g)
                if n > 2, special != 0 { w[Int(g.next() % UInt64(n))] = special }
                var row = [Double](repeating: 0, count: n)
                var expected = [Float](repeating: 7, count: n)
                let expectedFlag = w.withUnsafeBufferPointer { wb in
                    row.withUnsafeMutableBufferPointer { r in
                        expected.withUnsafeMutableBufferPointer { y in
                            capg_threshold_subtract_cold_decay(wb.baseAddress, n, cut, t, c, r.baseAddress)
                            return capg_narrow_set_clear(r.baseAddress, y.baseAddress, n)
                        }
                    }
                }
                for generic in [false, true] {
                    var got = [Float](repeating: -3, count: n)
                    let flag = w.withUnsafeBufferPointer { wb in
                        got.withUnsafeMutableBufferPointer { y in
                            generic ? capg_threshold_cold_decay_narrow_set_generic(wb.baseAddress, n, cut, t, c, y.baseAddress)
                                    : capg_threshold_cold_decay_narrow_set(wb.baseAddress, n, cut, t, c, y.baseAddress)
                        }
                    }
                    XCTAssertEqual(got.map(\.bitPattern), expected.map(\.bitPattern), "n=\(n) c=\(c) generic=\(generic)")
                    XCTAssertEqual(flag, expectedFlag, "n=\(n) c=\(c) generic=\(generic)")
                }
            }
        }
    }

    /// `subtractDecay(…narrowingInto:)` against `subtractDecay` followed by the narrowing
    /// (`RowNarrowing(overwrite: true)`), on a Double row that is zero but at the listed
    /// entries: cold and hot ones, a duplicate, an entry that makes the row non-finite; the
    /// Double row must come back zero.
    func testDecayNarrowingMatchesDecayThenNarrow() {
        var g = SplitMix64(seed: 23)
        let bound = 3.0, t = 2.2
        for n in [1, 2, 9, 40, 1000] {
            for poison in [false, true] {
                let w = randomWeights(n, cut: 0.05 / bound, generator: &g)
                var hot = [Int32](repeating: 0, count: n)
                let split = w.withUnsafeBufferPointer { wb in
                    hot.withUnsafeMutableBufferPointer { ThresholdHotCold(weights: wb.baseAddress!, count: n, bound: bound, hot: $0.baseAddress!) }
                }
                let picks = (0..<4).map { _ in Int(g.next() % UInt64(n)) }
                let nonzero: [(item: Int, scale: Double)] = (picks + [picks[0]]).map { ($0, Double(g.next() % 100) / 7 - 5) }
                var start = [Double](repeating: 0, count: n)
                for (j, v) in nonzero { start[j] += v }
                if poison { start[picks[1]] = .infinity }
                let c = 0.61
                // The two-pass reference.
                var reference = start
                var expected = [Float](repeating: 9, count: n)
                let hotList = Array(hot[0..<split.hotCount])
                let expectedFlag = w.withUnsafeBufferPointer { wb in
                    hotList.withUnsafeBufferPointer { hb in
                        reference.withUnsafeMutableBufferPointer { r in
                            split.subtractDecay(scale: c, t: t, weights: wb.baseAddress!, count: n, hot: hb, from: r.baseAddress!)
                            return expected.withUnsafeMutableBufferPointer { RowNarrowing(row: $0.baseAddress!, overwrite: true).narrow(r) }
                        }
                    }
                }
                var row = start
                var got = [Float](repeating: -1, count: n)
                let flag = w.withUnsafeBufferPointer { wb in
                    hotList.withUnsafeBufferPointer { hb in
                        nonzero.withUnsafeBufferPointer { nz in
                            row.withUnsafeMutableBufferPointer { r in
                                got.withUnsafeMutableBufferPointer { y in
                                    split.subtractDecay(scale: c, t: t, weights: wb.baseAddress!, count: n, hot: hb,
                                                        from: r.baseAddress!, nonzero: nz, narrowingInto: y.baseAddress!)
                                }
                            }
                        }
                    }
                }
                XCTAssertEqual(got.map(\.bitPattern), expected.map(\.bitPattern), "n=\(n) poison=\(poison)")
                XCTAssertEqual(flag, expectedFlag, "n=\(n) poison=\(poison)")
                XCTAssertEqual(flag, poison)
                XCTAssertEqual(row.map(\.bitPattern), [Double](repeating: 0, count: n).map(\.bitPattern))
                XCTAssertGreaterThan(split.hotCount + nonzero.count, 0)
            }
        }
    }
}
