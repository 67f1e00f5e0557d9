import Foundation
import XCTest
@testable import CAPGCore

/// The hole-sifting `TopKHeap` / `UnsafeTopKHeap` against the swapping heap it replaced, the
/// piecewise candidate scan of `GumbelTopK` around N = 1000, and the LSR's `choose` without
/// its probability array.
final class TopKHeapTests: XCTestCase {
    /// The heap before the rewrite (two arrays, swapping sifts), kept verbatim as the
    /// reference: the new one must reach the same layout after every offer.
    private struct SwappingHeap {
        var keys: [Double] = [], items: [Int] = []
        let capacity: Int

        func below(_ ka: Double, _ ia: Int, _ kb: Double, _ ib: Int) -> Bool {
            ka < kb || (ka == kb && ia > ib)
        }

        mutating func offer(key: Double, item: Int) {
            if keys.count < capacity {
                keys.append(key); items.append(item)
                var c = keys.count - 1
                while c > 0 {
                    let p = (c - 1) / 2
                    if below(keys[c], items[c], keys[p], items[p]) {
                        keys.swapAt(c, p); items.swapAt(c, p); c = p
                    } else { break }
                }
                return
            }
            if !below(keys[0], items[0], key, item) { return }
            keys[0] = key; items[0] = item
            var p = 0
            let n = keys.count
            while true {
                let l = 2 * p + 1, r = l + 1
                var m = p
                if l < n && below(keys[l], items[l], keys[m], items[m]) { m = l }
                if r < n && below(keys[r], items[r], keys[m], items[m]) { m = r }
                if m == p { break }
                keys.swapAt(p, m); items.swapAt(p, m); p = m
            }
        }

        func sortedDescending() -> [Int] {
            var k = keys, it = items, out = [Int](repeating: 0, count: keys.count)
            var size = k.count
            while size > 0 {
                out[size - 1] = it[0]
                size -= 1
                k[0] = k[size]; it[0] = it[size]
                var p = 0
                while true {
                    let l = 2 * p + 1, r = l + 1
                    var m = p
                    if l < size && below(k[l], it[l], k[m], it[m]) { m = l }
                    if r < size && below(k[r], it[r], k[m], it[m]) { m = r }
                    if m == p { break }
                    k.swapAt(p, m); it.swapAt(p, m); p = m
                }
            }
            return out
        }

        func sortedEntriesDescending() -> [(item: Int, key: Double)] {
            let order = keys.indices.sorted { below(keys[$1], items[$1], keys[$0], items[$0]) }
            return order.map { (items[$0], keys[$0]) }
        }
    }

    /// Keys with many ties (a few distinct values), ±∞, ±0 and, when `nan`, NaN.
    private func keys(_ n: Int, seed: UInt64, nan: Bool) -> [Double] {
        var g = SplitMix64(seed: seed)
        return (0..<n).map { _ in
            let r = g.next()
            switch r % 16 {
            case 0: return .infinity
            case 1: return -.infinity
            case 2: return -0.0
            case 3: return 0.0
            case 4: return nan ? .nan : 1
            default: return Double(Int(r >> 40) % 7) / 2 - 1
            }
        }
    }

    /// Same layout as the swapping heap after every offer, same drained order and same
    /// sorted entries, NaN keys included; without NaN the drained order is the sort by
    /// (key descending, item ascending) of all offered pairs, cut to the capacity.
    func testHeapMatchesSwappingHeapAndSort() {
        for trial in 0..<400 {
            let n = [1, 2, 3, 7, 10, 31, 100, 257][trial % 8] + trial % 5
            let capacity = [1, 2, 3, 10, 16, 100, 300][trial % 7]
            let nan = trial % 3 == 0
            let ks = keys(n, seed: UInt64(trial), nan: nan)
            // Items in a shuffled order, so ties are offered both ways round.
            var g = SplitMix64(seed: UInt64(1000 + trial))
            var order = Array(0..<n)
            for i in stride(from: n - 1, to: 0, by: -1) { order.swapAt(i, Int(g.next() % UInt64(i + 1))) }
            var old = SwappingHeap(capacity: capacity)
            var new = TopKHeap(capacity: capacity)
            var slots = [TopKEntry](repeating: TopKEntry(key: 0, item: 0), count: capacity)
            slots.withUnsafeMutableBufferPointer { slots in
                var raw = UnsafeTopKHeap(base: slots.baseAddress!, capacity: capacity)
                for item in order {
                    old.offer(key: ks[item], item: item)
                    new.offer(key: ks[item], item: item)
                    raw.offer(key: ks[item], item: item)
                    XCTAssertEqual(new.count, old.keys.count)
                    XCTAssertEqual(raw.count, old.keys.count)
                    for i in 0..<old.keys.count {
                        if new.entries[i].key.bitPattern != old.keys[i].bitPattern || new.entries[i].item != old.items[i]
                            || slots[i].key.bitPattern != old.keys[i].bitPattern || slots[i].item != old.items[i] {
                            XCTFail("layout differs at slot \(i) (trial \(trial))"); return
                        }
                    }
                    XCTAssertEqual(new.minimumKey?.bitPattern, old.keys.first?.bitPattern)
                }
                let expected = old.sortedDescending()
                XCTAssertEqual(new.sortedDescending(), expected, "trial \(trial)")
                let oldEntries = old.sortedEntriesDescending(), newEntries = raw.sortedEntries()
                XCTAssertEqual(newEntries.map(\.item), oldEntries.map(\.item), "trial \(trial)")
                XCTAssertEqual(newEntries.map(\.key.bitPattern), oldEntries.map(\.key.bitPattern), "trial \(trial)")
                XCTAssertEqual(raw.drainDescending(), expected, "trial \(trial)")
                XCTAssertEqual(raw.count, 0)
            }
            if !nan {
                let sorted = (0..<n).sorted { ks[$0] > ks[$1] || (ks[$0] == ks[$1] && $0 < $1) }
                XCTAssertEqual(new.sortedDescending(), Array(sorted.prefix(capacity)), "trial \(trial)")
                XCTAssertEqual(GumbelTopK.topK(ks, k: capacity), Array(sorted.prefix(capacity)))
            }
        }
    }

    /// Empty heaps (capacity 0, or nothing offered) drain to empty lists.
    func testEmptyHeaps() {
        var none = TopKHeap(capacity: 0)
        none.offer(key: 1, item: 0)
        XCTAssertEqual(none.count, 0)
        XCTAssertEqual(none.sortedDescending(), [])
        XCTAssertNil(none.minimumKey)
        XCTAssertEqual(TopKHeap(capacity: 3).sortedDescending(), [])
        XCTAssertEqual(GumbelTopK.topK([], k: 3), [])
        var stream = RandomStream(RandomKey(seed: 1, purpose: .candidateSampling))
        XCTAssertEqual(GumbelTopK.sample(scores: [], k: 3, stream: &stream), [])
        XCTAssertEqual(GumbelTopK.sampleWithPerturbedKeys(scores: [1, 2], k: 0, stream: &stream).count, 0)
    }

    /// The piece sizes: whole blocks of 16, at least 32, at most a chunk, and growing with
    /// the items seen (so a scan of N items makes O(log) pieces before they reach a chunk).
    func testPieceSize() {
        for seen in 0..<2000 {
            let p = GumbelTopK.pieceSize(seen: seen, chunk: 256)
            XCTAssertTrue(p % 16 == 0 && p >= 32 && p <= 256, "seen \(seen): \(p)")
            XCTAssertGreaterThanOrEqual(p, Swift.min(seen, 256), "seen \(seen)")
        }
    }

    /// `select` (pieces, marks, re-marking when κ falls) equals the plain algorithm for N
    /// around 1000 and K around the piece bounds, on scores that move κ adversarially: κ
    /// starting very low (the first K items far below the rest) or very high (the first
    /// items the best), rising through the whole scan, saw-tooth, all tied, ±∞ and NaN.
    func testPiecewiseScanEqualsReferenceNearThousand() {
        let sizes = [31, 32, 33, 47, 48, 63, 64, 255, 959, 960, 999, 1000, 1001, 1023, 1024, 1100]
        let ks = [1, 5, 10, 16, 31, 32, 33, 100]
        var trial = 0
        for n in sizes {
            for k in ks where k <= n {
                for shape in 0..<8 {
                    trial += 1
                    var s = randomScores(n, seed: 90_000 + trial, scale: 2)
                    switch shape {
                    case 1: for i in 0..<Swift.min(k, n) { s[i] -= 50 }                       // κ starts far too low
                    case 2: for i in 0..<Swift.min(k, n) { s[i] += 50 }                       // the first K win
                    case 3: s = s.indices.map { Double($0) * 0.01 }                           // κ rises to the end
                    case 4: s = s.indices.map { Double($0 % 97) * 0.1 }                       // saw-tooth
                    case 5: s = [Double](repeating: 0.25, count: n)                            // all tied
                    case 6: for i in s.indices where i % 7 == 3 { s[i] = i % 2 == 0 ? -.infinity : .infinity }
                    case 7: for i in s.indices where i % 41 == 40 { s[i] = .nan }
                    default: break
                    }
                    let stream = RandomStream(RandomKey(seed: 5, purpose: .candidateSampling, query: trial))
                    assertSelectMatchesReference(scores: s, k: k, stream: stream, keyed: shape != 7,
                                                 "n \(n) k \(k) shape \(shape)")
                }
            }
        }
    }

    /// `choose` with τ₂ > 0 (probabilities in a stack buffer) picks what the cumulative sum of
    /// `probabilities` gives for the same uniform, and draws exactly one uniform.
    func testChooseMatchesProbabilities() {
        var g = SplitMix64(seed: 77)
        for trial in 0..<300 {
            let n = 1 + trial % 40
            let q = (0..<n).map { _ in Double(g.next() % 1000) / 1000 }
            let l = (0..<n).map { _ in Double(Int(g.next() % 9)) / 4 - 1 }      // ties too
            let query = TableQuery(q: q, l: l)
            let lsr = LateStageRanker(temperature: [0.05, 0.3, 1, 7][trial % 4])
            let candidates = (0..<Swift.min(n, 1 + trial % 12)).map { _ in Int(g.next() % UInt64(n)) }
            var a = RandomStream(RandomKey(seed: 3, purpose: .lateStageChoice, query: trial))
            var b = a
            let pos = lsr.choose(candidates: candidates, query: query, stream: &a)
            let p = lsr.probabilities(candidates: candidates, query: query)
            let u = b.uniform()
            var acc = 0.0, expected = p.count - 1
            for i in p.indices {
                acc += p[i]
                if u < acc { expected = i; break }
            }
            XCTAssertEqual(pos, expected, "trial \(trial)")
            XCTAssertEqual(a.wordPosition, b.wordPosition)
        }
    }
}
