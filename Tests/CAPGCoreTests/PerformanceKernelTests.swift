@testable import CAPGCore
import Foundation
import XCTest

/// The fast kernels of issue 7 against their plain definitions.
final class PerformanceKernelTests: XCTestCase {
    /// The batched Philox generator returns the stream's words, for any start block,
    /// counts that are not a multiple of 8 blocks, and a counter that wraps at 2³².
    func testPhiloxBatchEqualsStream() {
        for (first, blocks) in [(0, 1), (0, 8), (3, 37), (UInt32.max - 5, 16), (1000, 256)] as [(UInt32, Int)] {
            let key = RandomKey(seed: 0xDEAD_BEEF_1234, purpose: .candidateSampling, step: 7, query: 99, sample: 3)
            var out = [UInt32](repeating: 0, count: 4 * blocks)
            out.withUnsafeMutableBufferPointer { PhiloxBatch.fill($0, key: key, firstBlock: first) }
            for b in 0..<blocks {
                let w = Philox4x32.block(counter: key.counter(block: first &+ UInt32(b)), key: key.philoxKey)
                XCTAssertEqual(Array(out[4 * b..<4 * b + 4]), [w[0], w[1], w[2], w[3]], "block \(first)+\(b)")
            }
        }
    }

    /// `advance(words:)` lands where that many `nextWord()` calls do, from any lane.
    func testStreamAdvance() {
        let key = RandomKey(seed: 5, purpose: .reward, query: 1)
        for pre in 0..<6 {
            for skip in [0, 1, 2, 3, 4, 5, 11, 200] {
                var a = RandomStream(key), b = RandomStream(key)
                for _ in 0..<pre { _ = a.nextWord(); _ = b.nextWord() }
                for _ in 0..<skip { _ = a.nextWord() }
                b.advance(words: skip)
                XCTAssertEqual(a.wordPosition, b.wordPosition)
                XCTAssertEqual((0..<9).map { _ in a.nextWord() }, (0..<9).map { _ in b.nextWord() }, "pre \(pre) skip \(skip)")
            }
        }
    }

    /// The batched sampler equals the reference for sizes around the 256-item chunks and
    /// K beyond a chunk, from fresh and from mid-block streams, leaves the stream where the
    /// reference does, and reports the K-th perturbed key.
    func testBatchedGumbelTopKEqualsReference() {
        for (trial, n) in [1, 2, 7, 255, 256, 257, 511, 513, 1001, 3000].enumerated() {
            for k in [1, 3, 100, 300] {
                for pre in [0, 1, 2] {
                    let s = randomScores(n, seed: 9000 + trial, scale: [0.1, 2, 30][trial % 3])
                    var a = RandomStream(RandomKey(seed: 3, purpose: .candidateSampling, query: trial, sample: k))
                    for _ in 0..<pre { _ = a.nextWord() }
                    var b = a
                    let (items, kth) = GumbelTopK.sampleWithKey(scores: s, k: k, stream: &a)
                    let ref = GumbelTopK.sampleReference(scores: s, k: k, stream: &b)
                    XCTAssertEqual(items, ref, "n \(n) k \(k) pre \(pre)")
                    XCTAssertEqual(a.nextWord(), b.nextWord(), "stream position n \(n) k \(k) pre \(pre)")
                    // The K-th key is the smallest kept perturbed score: recompute it.
                    var c = RandomStream(RandomKey(seed: 3, purpose: .candidateSampling, query: trial, sample: k))
                    for _ in 0..<pre { _ = c.nextWord() }
                    let g = (0..<n).map { _ in c.gumbel() }
                    XCTAssertEqual(kth, items.map { s[$0] + g[$0] }.min()!, "n \(n) k \(k)")
                }
            }
        }
    }

    /// VectorExp is within 2 ulp of glibc over the normal range (0 below it), handles the
    /// ends, and the bulk call (both the vector body and the remainder) equals elementwise
    /// calls and returns their sum.
    func testVectorExpAccuracy() {
        var worst = 0.0
        var x = -745.0
        let smallestNormal = Foundation.log(Double.leastNormalMagnitude)   // −708.396…
        while x < 709.7 {
            let e = Foundation.exp(x), v = VectorExp.exp(x)
            if x >= smallestNormal {
                worst = max(worst, abs(v - e) / e.ulp)
            } else {
                XCTAssertEqual(v, 0, "x \(x)")
            }
            x += 0.0137
        }
        XCTAssertLessThanOrEqual(worst, 2, "max error \(worst) ulp")
        XCTAssertEqual(VectorExp.exp(0), 1)
        XCTAssertEqual(VectorExp.exp(709.78), Foundation.exp(709.78), accuracy: 2 * Foundation.exp(709.78).ulp)
        XCTAssertEqual(VectorExp.exp(800), .infinity)
        XCTAssertEqual(VectorExp.exp(-800), 0)
        XCTAssertTrue(VectorExp.exp(Double.nan).isNaN)
        for count in [37, 1000, 4099] {
            let xs = (0..<count).map { -Double($0 % 411) * 1.7 + 0.3 }
            var out = [Double](repeating: 0, count: xs.count)
            let sum = xs.withUnsafeBufferPointer { xb in out.withUnsafeMutableBufferPointer { VectorExp.exp(xb, shift: -0.3, into: $0) } }
            XCTAssertEqual(out, xs.map { VectorExp.exp($0 - 0.3) })
            XCTAssertEqual(sum, out.reduce(0, +), accuracy: 1e-14 * sum)
        }
        print("VectorExp: max error \(worst) ulp; AVX2+FMA variant in use: \(VectorExp.usesAVX2)")
    }

    /// The hot/cold threshold solve agrees with the log-domain reference solve, for flat,
    /// moderate and peaked scores, with and without (good and bad) hints; and one call for
    /// several chosen items equals the sum of single calls.
    func testThresholdFastPathMatchesLogDomain() {
        let model = ThresholdInclusion()
        for (trial, scale) in [0.01, 0.3, 2, 8].enumerated() {
            let n = 5000, k = 50
            let s = randomScores(n, seed: 4200 + trial, scale: scale)
            // Reference: the log-domain solve and formula.
            let sol = ThresholdInclusion.solve(scores: s, k: k)
            let logPsi = sol.logX.map { $0 - Foundation.exp($0) }
            let lse = StableMath.logSumExp(logPsi)
            for item in [0, 17, n - 1] {
                let xa = Foundation.exp(sol.logX[item])
                let phi = xa / Foundation.expm1(xa)
                var ref = logPsi.map { -phi * Foundation.exp($0 - lse) }
                ref[item] += phi
                for hint in [nil, 1e-9, Foundation.exp(sol.logT), 1e9] as [Double?] {
                    var g = [Double](repeating: 0, count: n)
                    let lp = model.accumulateLogProbabilityGradients(of: [(item, 1)], scores: s, k: k, thresholdHint: hint, into: &g)
                    XCTAssertEqual(lp[0], ThresholdInclusion.logInclusion(logX: sol.logX[item]), accuracy: 1e-11)
                    let err = zip(g, ref).map { abs($0 - $1) }.max()!
                    XCTAssertLessThan(err, 1e-12 * max(1, phi), "scale \(scale) item \(item) hint \(String(describing: hint))")
                }
            }
            var both = [Double](repeating: 0, count: n), single = [Double](repeating: 0, count: n)
            _ = model.accumulateLogProbabilityGradients(of: [(3, 0.5), (9, -2)], scores: s, k: k, into: &both)
            _ = model.accumulateLogProbabilityGradient(of: 3, scores: s, k: k, scale: 0.5, into: &single)
            _ = model.accumulateLogProbabilityGradient(of: 9, scores: s, k: k, scale: -2, into: &single)
            XCTAssertLessThan(zip(both, single).map { abs($0 - $1) }.max()!, 1e-14)
            // Σ_a P_a = K still holds for the fast probabilities' solve.
            XCTAssertEqual(model.probabilities(scores: s, k: k).reduce(0, +), Double(k), accuracy: 1e-9)
        }
    }

    /// The threshold solve's early exit for rows whose chosen items are all certainly
    /// included gives bitwise the full solve's row (zero), with and without the Float-row
    /// narrowing; rows that are not certain take the full solve. Rows as a trained ESR makes
    /// them: a few items far above the rest (gaps of tens to hundreds of nats).
    func testCertainInclusionExitMatchesFullSolve() {
        var g = SplitMix64(seed: 77)
        let n = 1000, k = 10
        var exits = 0, full = 0
        for trial in 0..<200 {
            let lead = 1 + Int(g.next() % 14)             // items near the top (k ± a few)
            let gap = 5 + Double(g.next() % 400)           // nats between them and the rest
            var s = (0..<n).map { i -> Double in
                i < lead ? Double(g.next() % 1000) / 1000 : -gap - Double(g.next() % 250)
            }
            s.shuffle(using: &g)
            let top = s.max()!
            let order = s.indices.sorted { s[$0] > s[$1] }
            let chosen: [(item: Int, scale: Double)] = (0..<(1 + trial % 3)).map { m in
                (order[Int(g.next() % UInt64(m == 0 ? 3 : 15))], Double(g.next() % 9) / 4 - 1)
            }.filter { $0.scale != 0 }
            if chosen.isEmpty { continue }
            let hints: [Double?] = [nil, Foundation.exp(-(s[order[k - 1]] - top)), Foundation.exp(-(s[order[k]] - top)) * 3]
            for hint in hints {
                var rows: [[Double]] = []
                var narrowedRows: [[Float]] = []
                for allow in [true, false] {
                    let scratch = ThresholdScratch()
                    var gd = [Double](repeating: 0, count: n)
                    var narrowed: Bool? = nil
                    let fast = s.withUnsafeBufferPointer { sb in gd.withUnsafeMutableBufferPointer { gb in chosen.withUnsafeBufferPointer { cb in
                        ThresholdInclusion.fastGradients(of: cb, scores: sb, range: nil, k: k, hint: hint, scratch: scratch,
                                                         logP: nil, into: gb, narrowed: &narrowed, allowsCertainExit: allow)
                    } } }
                    XCTAssertTrue(fast)
                    rows.append(gd)
                    // The same row through the narrowing target (the training step's path).
                    var gt = [Double](repeating: 0, count: n)
                    var y = [Float](repeating: .nan, count: n)
                    var narrowedT: Bool? = nil
                    let scratchT = ThresholdScratch()
                    _ = s.withUnsafeBufferPointer { sb in gt.withUnsafeMutableBufferPointer { gb in chosen.withUnsafeBufferPointer { cb in
                        y.withUnsafeMutableBufferPointer { yb in
                            ThresholdInclusion.fastGradients(of: cb, scores: sb, range: nil, k: k, hint: hint, scratch: scratchT,
                                                             logP: nil, into: gb,
                                                             narrowingInto: RowNarrowing(row: yb.baseAddress!, overwrite: true),
                                                             narrowed: &narrowedT, allowsCertainExit: allow)
                        }
                    } } }
                    if narrowedT == nil {
                        narrowedT = gt.withUnsafeMutableBufferPointer { gb in
                            y.withUnsafeMutableBufferPointer { RowNarrowing(row: $0.baseAddress!, overwrite: true).narrow(gb) }
                        }
                    }
                    XCTAssertEqual(narrowedT, false)
                    XCTAssertEqual(gt, [Double](repeating: 0, count: n), "the Double row is left zero")
                    narrowedRows.append(y)
                    if allow { if scratch.certainRows > 0 { exits += 1 } else { full += 1 } }
                    XCTAssertEqual(scratch.certainRows, scratchT.certainRows)
                    if !allow { XCTAssertEqual(scratch.certainRows, 0) }
                }
                XCTAssertEqual(rows[0].map(\.bitPattern), rows[1].map(\.bitPattern), "trial \(trial) hint \(String(describing: hint))")
                XCTAssertEqual(narrowedRows[0].map(\.bitPattern), narrowedRows[1].map(\.bitPattern), "trial \(trial)")
            }
        }
        // Both kinds of row occur (else the test would not test the exit).
        XCTAssertGreaterThan(exits, 50)
        XCTAssertGreaterThan(full, 50)
    }

    /// The Float-row entry point adds (to Float precision) what the [Double] form computes,
    /// for every estimator, and reports non-finite rows.
    func testFloatRowAccumulateMatchesDoubleForm() throws {
        let n = 300
        let q = TableQuery(q: randomUnit(n, seed: 1), l: randomUnit(n, seed: 2))
        let sampler = RolloutSampler(k: 10, lsr: LateStageRanker(temperature: 0), reward: .expected)
        let ws = EstimatorWorkspace()
        for (kind, inclusion) in [(EstimatorKind.vpg, InclusionModelKind.threshold), (.capg, .threshold),
                                  (.capg, .independent), (.topk, .threshold), (.distill, .threshold)] {
            let est = try PolicyGradientEstimator(kind: kind, inclusion: inclusion, samples: 3, sampler: sampler)
            let s = randomScores(n, seed: 31, scale: 1.5)
            let sf = s.map { Float($0) }
            let sd = sf.map { Double($0) }
            var gd = [Double](repeating: 0, count: n)
            let a = est.accumulate(scores: sd, query: q, seed: 1, step: 2, queryID: 3, scale: 0.25, into: &gd)
            var gf = [Float](repeating: 1, count: n)
            let b = sf.withUnsafeBufferPointer { sb in gf.withUnsafeMutableBufferPointer { gb in
                est.accumulate(scores: sb, query: q, seed: 1, step: 2, queryID: 3, scale: 0.25, into: gb, workspace: ws) } }
            XCTAssertEqual(a.rewardSum, b.rewardSum)
            XCTAssertFalse(b.nonFinite)
            for i in 0..<n { XCTAssertEqual(gf[i], 1 + Float(gd[i]), "\(kind) \(inclusion) \(i)") }
            // `overwrite` sets the row (NaN before) to what adding into zeros gives, bitwise.
            var set = [Float](repeating: .nan, count: n), added = [Float](repeating: 0, count: n)
            sf.withUnsafeBufferPointer { sb in
                set.withUnsafeMutableBufferPointer { gb in
                    _ = est.accumulate(scores: sb, query: q, seed: 1, step: 2, queryID: 3, scale: 0.25, into: gb,
                                       workspace: ws, overwrite: true)
                }
                added.withUnsafeMutableBufferPointer { gb in
                    _ = est.accumulate(scores: sb, query: q, seed: 1, step: 2, queryID: 3, scale: 0.25, into: gb,
                                       workspace: ws)
                }
            }
            XCTAssertEqual(set.map(\.bitPattern), added.map(\.bitPattern), "\(kind) \(inclusion) overwrite")
            XCTAssertEqual(ws.gradient, [Double](repeating: 0, count: n), "\(kind) \(inclusion): the workspace row stays cleared")
        }
        // V-PG with one rollout writes its row straight into the Float row when overwriting
        // (`capg_negscale_narrow_set` plus σ's fix-up): bitwise what adding into zeros gives.
        for scale in [0.25, -3.0, .nan] {
            let est = try PolicyGradientEstimator(kind: .vpg, samples: 1, sampler: sampler)
            let sf = randomScores(n, seed: 34, scale: 2).map { Float($0) }
            var set = [Float](repeating: .nan, count: n), added = [Float](repeating: 0, count: n)
            let (a, b) = sf.withUnsafeBufferPointer { sb in
                (set.withUnsafeMutableBufferPointer { gb in
                    est.accumulate(scores: sb, query: q, seed: 1, step: 4, queryID: 5, scale: scale, into: gb, workspace: ws,
                                   overwrite: true) },
                 added.withUnsafeMutableBufferPointer { gb in
                    est.accumulate(scores: sb, query: q, seed: 1, step: 4, queryID: 5, scale: scale, into: gb, workspace: ws) })
            }
            // Bitwise, but a NaN's sign may differ (the step stops on any NaN).
            XCTAssertEqual(set.map { $0.isNaN ? Float.nan.bitPattern : $0.bitPattern },
                           added.map { $0.isNaN ? Float.nan.bitPattern : $0.bitPattern }, "vpg direct, scale \(scale)")
            XCTAssertEqual(a.nonFinite, b.nonFinite, "scale \(scale)")
            XCTAssertEqual(a.nonFinite, scale.isNaN, "scale \(scale)")
            XCTAssertEqual(ws.gradient, [Double](repeating: 0, count: n), "the workspace row stays cleared")
        }
        // A query whose rollouts carry no weight: `overwrite` leaves zeros, not the old row.
        let zeroReward = TableQuery(q: [Double](repeating: 0, count: n), l: randomUnit(n, seed: 2))
        for kind in [EstimatorKind.capg, .vpg, .topk] {
            let est = try PolicyGradientEstimator(kind: kind, samples: 2, sampler: sampler)
            let sf = randomScores(n, seed: 33).map { Float($0) }
            var gf = [Float](repeating: .nan, count: n)
            let st = sf.withUnsafeBufferPointer { sb in gf.withUnsafeMutableBufferPointer { gb in
                est.accumulate(scores: sb, query: zeroReward, seed: 1, step: 0, queryID: 0, scale: 1, into: gb, workspace: ws,
                               overwrite: true) } }
            XCTAssertEqual(st.rewardSum, 0)
            XCTAssertEqual(gf, [Float](repeating: 0, count: n), "\(kind)")
        }
        let est = try PolicyGradientEstimator(kind: .capg, samples: 1, sampler: sampler)
        let sf = randomScores(n, seed: 32).map { Float($0) }
        var gf = [Float](repeating: 0, count: n)
        let st = sf.withUnsafeBufferPointer { sb in gf.withUnsafeMutableBufferPointer { gb in
            est.accumulate(scores: sb, query: q, seed: 1, step: 0, queryID: 0, scale: .nan, into: gb, workspace: ws) } }
        XCTAssertTrue(st.rewardSum > 0 && st.nonFinite)
        // The same NaN through the threshold solve's own narrowing (`overwrite`).
        let stSet = sf.withUnsafeBufferPointer { sb in gf.withUnsafeMutableBufferPointer { gb in
            est.accumulate(scores: sb, query: q, seed: 1, step: 0, queryID: 0, scale: .nan, into: gb, workspace: ws,
                           overwrite: true) } }
        XCTAssertTrue(stSet.rewardSum > 0 && stSet.nonFinite)
        XCTAssertEqual(ws.gradient, [Double](repeating: 0, count: n))
    }
}
