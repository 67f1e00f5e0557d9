import CVectorMath
import Foundation
import XCTest
@testable import CAPGCore

/// The Float-row variants of the O(N) passes: each kernel, given a Float row, must give
/// bitwise what its Double form gives on the widened row (Double(Float) is exact, so there is no excuse for a single bit). Rows with
/// ties, ±0, values far below the top (beyond the threshold solve's 700 cut-off and the
/// exp kernel's range), ±∞ and NaN where the pass defines a result for them; lengths 0…33
/// (every tail of the 4-, 8-, 16- and 64-item blocks) and a few thousand.
final class FloatRowTests: XCTestCase {
    static let lengths = Array(0...33) + [64, 100, 255, 256, 1000, 4099]

    /// A Float row of n items from `seed`: normals times `scale`, with (when n allows) ties,
    /// +0 and −0, a few values far below the rest, and optionally NaN and −∞.
    func row(_ n: Int, seed: UInt64, scale: Float = 3, extremes: Bool = true, nan: Bool = false) -> [Float] {
        var g = SplitMix64(seed: seed)
        var r = RandomStream(RandomKey(seed: seed, purpose: .variance, query: n))
        var x = (0..<n).map { _ in Float(r.normal()) * scale }
        guard n > 0 else { return x }
        func at() -> Int { Int(g.next() % UInt64(n)) }
        for _ in 0..<(n / 5 + 1) { x[at()] = x[at()] }  // ties
        x[at()] = 0
        x[at()] = -0.0
        if extremes {
            x[at()] = -800
            x[at()] = -1e30
            if n > 8 { x[at()] = -.greatestFiniteMagnitude }
        }
        if nan {
            x[at()] = .nan
            if n > 6 { x[at()] = -.infinity }
        }
        return x
    }

    private func bits(_ v: [Double]) -> [UInt64] { v.map(\.bitPattern) }

    // MARK: kernels

    func testExpShiftedFloatEqualsDoubleOnEveryVariant() {
        for n in Self.lengths {
            for (seed, shift) in [(UInt64(1), 0.0), (2, -2.5), (3, 700.0)] {
                let x = row(n, seed: seed, nan: seed == 3)
                let xd = x.map { Double($0) }
                var a = [Double](repeating: 7, count: n + 1), b = a, c = a, d = a
                let (sa, sb, sc, sd) = x.withUnsafeBufferPointer { xf in
                    xd.withUnsafeBufferPointer { xdb in
                        let pf = xf.baseAddress ?? UnsafePointer(bitPattern: 8)!
                        let pd = xdb.baseAddress ?? UnsafePointer(bitPattern: 8)!
                        return (capg_exp_shifted(pd, shift, &a, n), capg_exp_shifted_f32(pf, shift, &b, n),
                                capg_exp_shifted_generic(pd, shift, &c, n), capg_exp_shifted_f32_generic(pf, shift, &d, n))
                    }
                }
                XCTAssertEqual(bits(a), bits(b), "n \(n) shift \(shift)")
                XCTAssertEqual(sa.bitPattern, sb.bitPattern, "n \(n) shift \(shift)")
                XCTAssertEqual(bits(c), bits(d), "generic, n \(n) shift \(shift)")
                XCTAssertEqual(sc.bitPattern, sd.bitPattern, "generic, n \(n) shift \(shift)")
                XCTAssertEqual(b[n], 7, "wrote past n")
            }
        }
    }

    func testThresholdExpSplitFloatEqualsDouble() {
        for n in Self.lengths + [2500] {
            for (seed, cut) in [(UInt64(4), 0.01), (5, 1e-5), (6, 2.0)] {
                let x = row(n, seed: seed, scale: 4)
                let xd = x.map { Double($0) }
                let top = xd.max() ?? 0
                var wd = [Double](repeating: 0, count: n), wf = wd
                var hd = [Int32](repeating: -1, count: max(n, 1)), hf = hd
                var rd = capg_threshold_split_result(), rf = capg_threshold_split_result()
                x.withUnsafeBufferPointer { xf in
                    xd.withUnsafeBufferPointer { xdb in
                        let pf = xf.baseAddress ?? UnsafePointer(bitPattern: 8)!
                        let pd = xdb.baseAddress ?? UnsafePointer(bitPattern: 8)!
                        let ow = UnsafeMutablePointer<Double>(bitPattern: 8)!
                        wd.withUnsafeMutableBufferPointer { w in
                            capg_threshold_exp_split(pd, -top, w.baseAddress ?? ow, n, cut, &hd, &rd)
                        }
                        wf.withUnsafeMutableBufferPointer { w in
                            capg_threshold_exp_split_f32(pf, -top, w.baseAddress ?? ow, n, cut, &hf, &rf)
                        }
                    }
                }
                XCTAssertEqual(bits(wd), bits(wf), "n \(n)")
                XCTAssertEqual(rd.sum.bitPattern, rf.sum.bitPattern, "n \(n)")
                XCTAssertEqual(rd.hot_count, rf.hot_count, "n \(n)")
                XCTAssertEqual(hd, hf, "n \(n)")
                let md = withUnsafeBytes(of: rd.moments) { Array($0.bindMemory(to: UInt64.self)) }
                let mf = withUnsafeBytes(of: rf.moments) { Array($0.bindMemory(to: UInt64.self)) }
                XCTAssertEqual(md, mf, "n \(n)")
            }
        }
    }

    /// `capg_minmax_f32` is `capg_widen_minmax` without the stores: the same (max, min),
    /// zero signs and NaN handling (never taken) included, on every variant.
    func testMinMaxEqualsWidenRange() {
        for n in Self.lengths {
            for nan in [false, true] {
                var x = row(n, seed: 7, nan: nan)
                if n == 5 && nan { x = [.nan, .nan, .nan, .nan, .nan] }
                if n == 9 { x = [Float](repeating: -0.0, count: 4) + [Float](repeating: 0, count: 5) }
                var out = [Double](repeating: 0, count: max(n, 1))
                var t0 = Float.nan, b0 = Float.nan, t1 = Float.nan, b1 = Float.nan, t2 = Float.nan, b2 = Float.nan
                x.withUnsafeBufferPointer { xb in
                    let p = xb.baseAddress ?? UnsafePointer(bitPattern: 8)!
                    capg_widen_minmax(p, &out, n, &t0, &b0)
                    capg_minmax_f32(p, n, &t1, &b1)
                    capg_minmax_f32_generic(p, n, &t2, &b2)
                }
                XCTAssertEqual(t0.bitPattern, t1.bitPattern, "n \(n) nan \(nan)")
                XCTAssertEqual(b0.bitPattern, b1.bitPattern, "n \(n) nan \(nan)")
                XCTAssertFalse(t1.isNaN || b1.isNaN)
                // The generic loop may differ from the lanes only in the sign of a zero extreme.
                XCTAssertEqual(t1, t2, "n \(n)")
                XCTAssertEqual(b1, b2, "n \(n)")
            }
        }
    }

    func testMaximumFloatEqualsDoubleOnEveryVariant() {
        for n in Self.lengths {
            for nan in [false, true] {
                var x = row(n, seed: 8, nan: nan)
                if n == 12 { x = [Float](repeating: 0, count: 6) + [Float](repeating: -0.0, count: 6) }
                let xd = x.map { Double($0) }
                x.withUnsafeBufferPointer { xf in
                    xd.withUnsafeBufferPointer { xdb in
                        let pf = xf.baseAddress ?? UnsafePointer(bitPattern: 8)!
                        let pd = xdb.baseAddress ?? UnsafePointer(bitPattern: 8)!
                        XCTAssertEqual(capg_max_f32(pf, n).bitPattern, capg_max_f64(pd, n).bitPattern, "n \(n)")
                        XCTAssertEqual(capg_max_f32_generic(pf, n).bitPattern, capg_max_f64_generic(pd, n).bitPattern)
                    }
                }
            }
        }
    }

    func testGumbelCandidatesFloatEqualsDouble() {
        var g = SplitMix64(seed: 11)
        for n in Self.lengths {
            for nan in [false, true] {
                let x = row(n, seed: 9 &+ UInt64(n), nan: nan)
                let xd = x.map { Double($0) }
                let words = (0..<(2 * n + 4)).map { _ in UInt32(truncatingIfNeeded: g.next()) }
                let finite = xd.filter(\.isFinite)
                for kappa in [-Double.infinity, 0, (finite.max() ?? 0) - 0.5, (finite.max() ?? 0) + 2, 50, .nan] {
                    let m = (n + 63) / 64 + 1
                    var a = [UInt64](repeating: 1, count: m), b = a, c = a, d = a
                    let counts = words.withUnsafeBufferPointer { w in
                        x.withUnsafeBufferPointer { xf in
                            xd.withUnsafeBufferPointer { xdb in
                                let pf = xf.baseAddress ?? UnsafePointer(bitPattern: 8)!
                                let pd = xdb.baseAddress ?? UnsafePointer(bitPattern: 8)!
                                return [capg_gumbel_candidates(w.baseAddress!, pd, n, kappa, &a),
                                        capg_gumbel_candidates_f32(w.baseAddress!, pf, n, kappa, &b),
                                        capg_gumbel_candidates_generic(w.baseAddress!, pd, n, kappa, &c),
                                        capg_gumbel_candidates_f32_generic(w.baseAddress!, pf, n, kappa, &d)]
                            }
                        }
                    }
                    XCTAssertEqual(a, b, "n \(n) kappa \(kappa)")
                    XCTAssertEqual(c, d, "generic, n \(n) kappa \(kappa)")
                    XCTAssertEqual(a, c, "variants, n \(n) kappa \(kappa)")
                    XCTAssertEqual(Set(counts).count, 1, "n \(n) kappa \(kappa)")
                }
            }
        }
    }
}
