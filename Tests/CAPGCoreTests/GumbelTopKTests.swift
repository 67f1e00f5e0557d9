import CVectorMath
import Foundation
import XCTest
@testable import CAPGCore

/// The candidate kernel of `GumbelTopK`'s scan (`capg_gumbel_candidates`) and the scan
/// against the plain algorithm on inputs chosen to break it.
final class GumbelTopKTests: XCTestCase {
    /// The uniform the sampler builds from an item's two words (`RandomStream.uniform`).
    private func uniform(hi: UInt32, lo: UInt32) -> Double {
        (Double(UInt64(hi >> 5) << 26 | UInt64(lo >> 6)) + 0.5) * 0x1p-53
    }

    /// The sampler's per-item table test: true when it rejects the item.
    private func tableRejects(u: Double, score: Double, kappa: Double) -> Bool {
        let table = GumbelTopK.rejectionTable, size = GumbelTopK.gridSize
        let delta = kappa - score
        guard delta > 0 else { return false }
        let m = delta * (1 / GumbelTopK.gridStep)
        return u <= (m >= Double(size) ? table[size] : table[Int(m)])
    }

    /// Runs both kernel variants on (words, scores, kappa), checks they write the same mask
    /// and count and nothing past ⌈count/64⌉ words, and returns the mask.
    private func candidates(_ words: [UInt32], _ scores: [Double], kappa: Double,
                            file: StaticString = #filePath, line: UInt = #line) -> [UInt64] {
        let count = scores.count
        let maskWords = (count + 63) / 64
        let guardWord: UInt64 = 0xA5A5_5A5A_A5A5_5A5A
        var dispatched = [UInt64](repeating: guardWord, count: maskWords + 2)
        var generic = dispatched
        let nd = words.withUnsafeBufferPointer { w in
            scores.withUnsafeBufferPointer { s in
                dispatched.withUnsafeMutableBufferPointer { capg_gumbel_candidates(w.baseAddress!, s.baseAddress!, count, kappa, $0.baseAddress!) }
            }
        }
        let ng = words.withUnsafeBufferPointer { w in
            scores.withUnsafeBufferPointer { s in
                generic.withUnsafeMutableBufferPointer { capg_gumbel_candidates_generic(w.baseAddress!, s.baseAddress!, count, kappa, $0.baseAddress!) }
            }
        }
        XCTAssertEqual(dispatched, generic, "variants disagree: count \(count), kappa \(kappa)", file: file, line: line)
        XCTAssertEqual(nd, ng, file: file, line: line)
        XCTAssertEqual(nd, dispatched.prefix(maskWords).reduce(0) { $0 + $1.nonzeroBitCount }, file: file, line: line)
        XCTAssertEqual(Array(dispatched.suffix(2)), [guardWord, guardWord], "wrote past the mask", file: file, line: line)
        if count % 64 != 0, let lastWord = dispatched.prefix(maskWords).last {
            XCTAssertEqual(lastWord >> (count % 64), 0, "bits past count", file: file, line: line)
        }
        return Array(dispatched.prefix(maskWords))
    }

    /// Items whose uniform sits within a few 2⁻²⁷ of c(δ) = exp(−e^{−δ}), with δ on and next to
    /// the table's grid points, near 0, near the cap of 30 and the table's end at 40, and
    /// beyond; plus −∞, ±0, huge and NaN scores (NaN makes the order of the block maximum
    /// matter), ties, high words of all ones and all zeros.
    private func adversarialChunk(count: Int, kappa: Double, g: inout SplitMix64) -> (words: [UInt32], scores: [Double]) {
        var words = [UInt32](repeating: 0, count: 2 * count)
        var scores = [Double](repeating: 0, count: count)
        for j in 0..<count {
            let r = g.next()
            var delta: Double
            switch r % 8 {
            case 0: delta = Double(Int(g.next() % 800)) / 16                      // on a grid point
            case 1: delta = (Double(Int(g.next() % 800)) / 16).nextUp             // just past one
            case 2: delta = (Double(Int(g.next() % 800)) / 16).nextDown           // just before one
            case 3: delta = Double(g.next() % 1000) / 1000 * 0.5                  // near 0
            case 4: delta = 29.5 + Double(g.next() % 1000) / 1000 * 12            // the caps 30 and 40
            case 5: delta = Double(g.next() % 100_000) / 1000                     // anywhere in [0, 100)
            case 6: delta = -Double(g.next() % 1000) / 100                        // above κ
            default: delta = [Double.infinity, 1e300, 0, 1e-300][Int(g.next() % 4)]
            }
            var s = kappa - delta
            if r % 97 == 0 { s = -.infinity }
            if r % 89 == 0 { s = -0.0 }
            if r % 83 == 0 { s = 1e300 }
            if r % 79 == 0 { s = .nan }
            if j > 0 && r % 13 == 0 { s = scores[j - 1] }                          // ties
            scores[j] = s
            let d = kappa - s
            // A high word whose 27 bits put u a few steps of 2⁻²⁷ from c(δ).
            let c = d.isFinite ? Foundation.exp(-Foundation.exp(-d)) : (d > 0 ? 1 : 0)
            let target = Int64((c * 0x1p27).rounded(.down)) + Int64(g.next() % 9) - 4
            var hi27 = UInt32(clamping: Swift.max(0, Swift.min(target, (1 << 27) - 1)))
            switch g.next() % 16 {
            case 0: hi27 = (1 << 27) - 1
            case 1: hi27 = 0
            case 2: hi27 = UInt32(g.next() % (1 << 27))
            default: break
            }
            let low5 = UInt32(truncatingIfNeeded: g.next() & 31)
            words[2 * j] = hi27 << 5 | low5
            words[2 * j + 1] = UInt32(truncatingIfNeeded: g.next())
        }
        return (words, scores)
    }

    /// A cleared bit is always an item the sampler's table test rejects (so skipping it
    /// changes nothing), the AVX2 and the generic variant agree bitwise, and the filter is
    /// not vacuous: it clears most items far below κ and keeps some near it.
    func testCandidateKernelOnlyClearsTableRejections() {
        var g = SplitMix64(seed: 0x6A3B)
        var cleared = 0, kept = 0, rejectable = 0
        let counts = Array(0...70) + [127, 128, 129, 255, 256, 257, 1000]
        let kappas: [Double] = [0, 3.25, -17.5, 1e6, -1e-300, 2.5e15, -.infinity, .infinity, .nan]
        for (ci, count) in counts.enumerated() {
            for (ki, kappa) in kappas.enumerated() where (ci + ki) % 3 == 0 || count >= 127 {
                let (words, scores) = adversarialChunk(count: count, kappa: kappa.isFinite ? kappa : 1, g: &g)
                let mask = candidates(words, scores, kappa: kappa)
                for j in 0..<count {
                    let isCandidate = mask[j / 64] >> (j % 64) & 1 == 1
                    let u = uniform(hi: words[2 * j], lo: words[2 * j + 1])
                    let rejects = tableRejects(u: u, score: scores[j], kappa: kappa)
                    if rejects { rejectable += 1 }
                    if isCandidate { kept += 1; continue }
                    cleared += 1
                    // A NaN score may go with its block (its key is NaN: it never enters a full heap).
                    if scores[j].isNaN { continue }
                    if !rejects {
                        XCTFail("cleared item the table keeps: count \(count) j \(j) kappa \(kappa) s \(scores[j]) word \(words[2 * j]) u \(u)")
                        return
                    }
                }
            }
        }
        XCTAssertGreaterThan(cleared, rejectable / 2, "the filter clears most table rejections (\(cleared) of \(rejectable))")
        XCTAssertGreaterThan(kept, 1000)
    }

    /// Pieces as the scan cuts them (1–3 whole blocks outside a quad, with and without a
    /// tail; a quad and then such blocks) at a low κ, where nearly every block passes the
    /// block test and takes the per-item test: the variants agree and clear only table
    /// rejections.
    func testCandidateKernelOnPieceSizedChunks() {
        var g = SplitMix64(seed: 0x9A1E)
        var kept = 0
        for count in [16, 17, 31, 32, 33, 42, 48, 54, 63, 64, 70, 80, 96, 112, 127, 144, 176, 186, 208, 240] {
            for trial in 0..<20 {
                let scores = randomScores(count, seed: 60_000 + 20 * count + trial, scale: 1)
                let words = (0..<(2 * count)).map { _ in UInt32(truncatingIfNeeded: g.next()) }
                let kappa = Double(trial % 5) - 1.5
                let mask = candidates(words, scores, kappa: kappa)
                for j in 0..<count {
                    if mask[j / 64] >> (j % 64) & 1 == 1 { kept += 1; continue }
                    XCTAssert(tableRejects(u: uniform(hi: words[2 * j], lo: words[2 * j + 1]), score: scores[j], kappa: kappa),
                              "count \(count) trial \(trial) item \(j)")
                }
            }
        }
        XCTAssertGreaterThan(kept, 1000)
    }

    /// Blocks of realistic chunks (normal scores, uniform words): the variants agree, and the
    /// mask at a settled κ keeps every item the table test keeps.
    func testCandidateKernelOnRandomChunks() {
        var g = SplitMix64(seed: 0xC0FFEE)
        for trial in 0..<400 {
            let count = [256, 255, 17, 16, 15, 1, 100][trial % 7]
            let scale = [0.1, 1, 5, 50][trial % 4]
            let scores = randomScores(count, seed: 40_000 + trial, scale: scale)
            let words = (0..<(2 * count)).map { _ in UInt32(truncatingIfNeeded: g.next()) }
            let kappa = scale * Double(trial % 9 - 2)
            let mask = candidates(words, scores, kappa: kappa)
            for j in 0..<count where mask[j / 64] >> (j % 64) & 1 == 0 {
                XCTAssert(tableRejects(u: uniform(hi: words[2 * j], lo: words[2 * j + 1]), score: scores[j], kappa: kappa),
                          "trial \(trial) item \(j)")
            }
        }
    }

    /// The scan equals the plain algorithm (items, order, keys, stream advance) on ties, −∞,
    /// very negative and NaN scores, N around multiples of 16 and 256, K = 1, K around the chunk
    /// size, K ≥ N, and streams not at a Philox block boundary (the scalar path) or at one
    /// past the start (the batched path with a non-zero first block).
    func testSelectEqualsReferenceOnAdversarialInputs() {
        let sizes = [1, 2, 15, 16, 17, 255, 256, 257, 511, 1000, 4099]
        let ks = [1, 2, 10, 255, 256, 300, 5000]
        var trial = 0
        for n in sizes {
            for k in ks where k <= 2 * n || k == 5000 {
                for shape in 0..<7 {
                    trial += 1
                    var s = randomScores(n, seed: 70_000 + trial, scale: [0.5, 3, 30, 300, 1, 2, 1][shape])
                    switch shape {
                    case 1: s = s.map { ($0 * 2).rounded() / 2 }                     // many ties
                    case 2: for i in s.indices where i % 3 == 0 { s[i] = -.infinity } // −∞
                    case 3: for i in s.indices where i % 5 != 0 { s[i] = -1e300 }     // very negative
                    case 4: s = [Double](repeating: 1.5, count: n)                     // all tied
                    case 5: s = s.indices.map { Double($0) * 1e-3 }                   // increasing: κ keeps moving
                    case 6: for i in s.indices where i % 37 == 36 { s[i] = .nan }      // NaN past the first K
                    default: break
                    }
                    let pre = [0, 1, 2, 3, 4, 8, 6][trial % 7]
                    var a = RandomStream(RandomKey(seed: 11, purpose: .candidateSampling, query: trial))
                    for _ in 0..<pre { _ = a.nextWord() }
                    assertSelectMatchesReference(scores: s, k: k, stream: a, keyed: shape != 6,
                                                 "n \(n) k \(k) shape \(shape) pre \(pre)")
                }
            }
        }
    }
}

/// `sampleWithKey` (and, with `keyed`, `sampleWithPerturbedKeys`) from copies of `stream`
/// against `sampleReference`: the same items in the same order and the same stream advance;
/// with `keyed`, every key bitwise `s_i + g_i` of the stream's i-th Gumbel draw and `v_K` the
/// last key. (With NaN keys in the heap the two output orders differ — a heap pop vs a sort
/// under a predicate NaN breaks — so callers pass `keyed: false` for NaN scores.)
func assertSelectMatchesReference(scores s: [Double], k: Int, stream: RandomStream, keyed: Bool, _ label: String,
                                  file: StaticString = #filePath, line: UInt = #line) {
    var a = stream, b = stream, c = stream, d = stream
    let (items, kth) = GumbelTopK.sampleWithKey(scores: s, k: k, stream: &a)
    let ref = GumbelTopK.sampleReference(scores: s, k: k, stream: &b)
    XCTAssertEqual(items, ref, label, file: file, line: line)
    XCTAssertEqual(a.wordPosition, b.wordPosition, "stream advance, " + label, file: file, line: line)
    if !keyed { return }
    let entries = GumbelTopK.sampleWithPerturbedKeys(scores: s, k: k, stream: &c)
    XCTAssertEqual(entries.map(\.item), ref, "keyed, " + label, file: file, line: line)
    let g = s.indices.map { _ in d.gumbel() }
    for (item, key) in entries where key.bitPattern != (s[item] + g[item]).bitPattern {
        XCTFail("key of item \(item): \(key) vs \(s[item] + g[item]), " + label, file: file, line: line); break
    }
    XCTAssertEqual(kth.bitPattern, entries.last?.key.bitPattern ?? (-Double.infinity).bitPattern, label, file: file, line: line)
}
