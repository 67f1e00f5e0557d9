import CVectorMath
import Foundation
import XCTest
@testable import CAPGCore

/// The Float-row variants of the O(N) passes (`ScoreElement`): each kernel and each generic
/// Swift pass, given a Float row, must give bitwise what its Double form gives on the
/// widened row (Double(Float) is exact, so there is no excuse for a single bit). Rows with
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
                let ws = EstimatorWorkspace()
                x.withUnsafeBufferPointer { ws.measure($0) }
                XCTAssertEqual(ws.rowRange.top.bitPattern, Double(t0).bitPattern)
                XCTAssertEqual(ws.rowRange.bottom.bitPattern, Double(b0).bitPattern)
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
                        XCTAssertEqual(Float.maximum(xf).bitPattern, StableMath.maximum(xdb).bitPattern)
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

    // MARK: Swift passes

    /// Gumbel-top-K on the Float row: the same items, the same K-th key and the same stream
    /// advance, on the batched path (fresh stream) and the word-by-word one (a stream not at
    /// a block boundary), NaN scores included.
    func testGumbelTopKFloatRowEqualsWidenedRow() {
        for n in Self.lengths + [20_000] {
            for (k, nan) in [(1, false), (10, false), (10, true), (100, false)] {
                let x = row(n, seed: 21 &+ UInt64(n), scale: 2, nan: nan)
                let xd = x.map { Double($0) }
                for offset in [0, 1] {
                    var sd = RandomStream(RandomKey(seed: 5, purpose: .candidateSampling, step: n, query: k))
                    sd.advance(words: offset)
                    var sf = sd
                    let a = GumbelTopK.sampleWithKey(scores: xd, k: k, stream: &sd)
                    let b = x.withUnsafeBufferPointer { GumbelTopK.sampleWithKey(scores: $0, k: k, stream: &sf) }
                    XCTAssertEqual(a.items, b.items, "n \(n) k \(k) offset \(offset)")
                    XCTAssertEqual(a.kthKey.bitPattern, b.kthKey.bitPattern, "n \(n) k \(k) offset \(offset)")
                    XCTAssertEqual(sd.wordPosition, sf.wordPosition)
                    XCTAssertEqual(sd.uniform(), sf.uniform())
                }
            }
        }
    }

    func testPlackettLuceGradientFloatRowEqualsWidenedRow() {
        for n in Self.lengths where n > 0 {
            let x = row(n, seed: 31 &+ UInt64(n), scale: 4)
            let xd = x.map { Double($0) }
            var stream = RandomStream(RandomKey(seed: 3, purpose: .candidateSampling, query: n))
            let prefix = GumbelTopK.sample(scores: xd, k: min(n, 7), stream: &stream)
            for scale in [1.0, -0.37] {
                var gd = [Double](repeating: 0.5, count: n), gf = gd
                let lpd = PlackettLuce.accumulateLogProbabilityGradient(scores: xd, prefix: prefix, scale: scale, into: &gd)
                var w = [Double](repeating: 0, count: n)
                var narrowed: Bool? = nil
                let lpf = x.withUnsafeBufferPointer { xf in
                    w.withUnsafeMutableBufferPointer {
                        PlackettLuce.accumulateLogProbabilityGradient(scores: xf, prefix: prefix, scale: scale, restWeights: $0,
                                                                      into: &gf, narrowed: &narrowed)
                    }
                }
                XCTAssertEqual(lpd.bitPattern, lpf.bitPattern, "n \(n)")
                XCTAssertEqual(bits(gd), bits(gf), "n \(n)")
                XCTAssertNil(narrowed)
            }
        }
    }

    /// The threshold solve on the Float row, with and without a hint and a known range, and
    /// on the log-domain fallback (a score more than 700 below the top).
    func testThresholdGradientsFloatRowEqualsWidenedRow() {
        for n in Self.lengths + [2500] where n > 3 {
            for extremes in [false, true] {
                let x = row(n, seed: 41 &+ UInt64(n), scale: 3, extremes: extremes)
                let xd = x.map { Double($0) }
                let k = max(1, n / 4)
                let items: [(item: Int, scale: Double)] = [(0, 0.5), (n - 1, -1.25), (n / 2, 2)]
                let range = (top: xd.max()!, bottom: xd.min()!)
                for hint in [nil, 0.3, Double(k) / Double(n)] as [Double?] {
                    for known in [false, true] {
                        var gd = [Double](repeating: 0.125, count: n), gf = gd
                        items.withUnsafeBufferPointer { ib in
                            xd.withUnsafeBufferPointer { sb in
                                gd.withUnsafeMutableBufferPointer { gb in
                                    ThresholdInclusion().accumulateGradients(
                                        of: ib, scores: sb, scoreRange: known ? range : nil, k: k, thresholdHint: hint,
                                        scratch: ThresholdScratch(), into: gb)
                                }
                            }
                            x.withUnsafeBufferPointer { sb in
                                gf.withUnsafeMutableBufferPointer { gb in
                                    ThresholdInclusion().accumulateGradients(
                                        of: ib, scores: sb, scoreRange: known ? range : nil, k: k, thresholdHint: hint,
                                        scratch: ThresholdScratch(), into: gb)
                                }
                            }
                        }
                        XCTAssertEqual(bits(gd), bits(gf), "n \(n) extremes \(extremes) hint \(String(describing: hint))")
                    }
                }
            }
        }
    }

    /// The estimator's Float-row entry points against the `[Double]` form on the widened row:
    /// the overwritten Float row is `Float(g) + 0` of the Double estimate, bitwise (V-PG's
    /// direct write: up to a NaN's sign), for the in-place estimators and for those that
    /// still widen, fused and split (`rollouts` then `accumulate(rollouts:…)` with and
    /// without `rowWidened`), with one workspace serving rows of different content in turn
    /// (so a stale widened row or range would show).
    func testEstimatorFloatRowEqualsDoubleFormAcrossRows() throws {
        let n = 700
        let q = TableQuery(q: randomUnit(n, seed: 5), l: randomUnit(n, seed: 6))
        let sampler = RolloutSampler(k: 12, lsr: LateStageRanker(temperature: 0), reward: .bernoulli)
        let ws = EstimatorWorkspace()
        let configs: [(EstimatorKind, InclusionModelKind, Int)] = [
            (.capg, .threshold, 1), (.vpg, .threshold, 1), (.capg, .threshold, 3), (.topk, .threshold, 2),
            (.vpg, .threshold, 3), (.capg, .independent, 2), (.vpgSwr, .threshold, 2), (.capg, .threshold, 2),
        ]
        for (c, (kind, inclusion, m)) in configs.enumerated() {
            let est = try PolicyGradientEstimator(kind: kind, inclusion: inclusion, samples: m, sampler: sampler)
            for r in 0..<3 {
                let x = row(n, seed: UInt64(100 + 7 * c + r), scale: 2)
                let xd = x.map { Double($0) }
                var gd = [Double](repeating: 0, count: n)
                let a = est.accumulate(scores: xd, query: q, seed: 9, step: r, queryID: c, scale: 0.5, into: &gd)
                let expected = gd.map { (Float($0) + 0).bitPattern }
                func check(_ g: [Float], _ what: String) {
                    XCTAssertEqual(g.map { $0.isNaN ? Float.nan.bitPattern : $0.bitPattern }, expected,
                                   "\(kind) \(inclusion) M=\(m) row \(r) \(what)")
                }
                var g1 = [Float](repeating: .nan, count: n), g2 = g1, g3 = g1
                x.withUnsafeBufferPointer { sb in
                    let b = g1.withUnsafeMutableBufferPointer { gb in
                        est.accumulate(scores: sb, query: q, seed: 9, step: r, queryID: c, scale: 0.5, into: gb,
                                       workspace: ws, overwrite: true)
                    }
                    XCTAssertEqual(a.rewardSum, b.rewardSum)
                    let drawn = est.rollouts(scores: sb, query: q, seed: 9, step: r, queryID: c, workspace: ws)
                    XCTAssertEqual(drawn.map(\.candidates), b.rollouts.map(\.candidates))
                    XCTAssertEqual(drawn.map { $0.kthPerturbedScore?.bitPattern }, b.rollouts.map { $0.kthPerturbedScore?.bitPattern })
                    _ = g2.withUnsafeMutableBufferPointer { gb in
                        est.accumulate(rollouts: drawn, scores: sb, query: q, scale: 0.5, into: gb, workspace: ws,
                                       rowWidened: true, overwrite: true)
                    }
                    // Another row through the workspace in between: rowWidened false must not reuse it.
                    let other = row(n, seed: 999, scale: 5)
                    _ = other.withUnsafeBufferPointer { ob in
                        est.rollouts(scores: ob, query: q, seed: 9, step: r, queryID: c, workspace: ws)
                    }
                    other.withUnsafeBufferPointer { ws.widen($0) }
                    _ = g3.withUnsafeMutableBufferPointer { gb in
                        est.accumulate(rollouts: drawn, scores: sb, query: q, scale: 0.5, into: gb, workspace: ws,
                                       overwrite: true)
                    }
                    // Without a workspace: the Float rollouts equal those of the Double row.
                    let plain = est.rollouts(scores: sb, query: q, seed: 9, step: r, queryID: c)
                    XCTAssertEqual(plain.map(\.candidates), drawn.map(\.candidates))
                }
                check(g1, "fused")
                check(g2, "split, rowWidened")
                check(g3, "split, another row in between")
            }
        }
    }
}
