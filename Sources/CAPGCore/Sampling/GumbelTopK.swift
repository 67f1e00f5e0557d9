import CVectorMath
import Foundation

/// Gumbel-top-K sampling of a Plackett-Luce K-prefix: the items with the K largest
/// perturbed scores `s_i + g_i`, `g_i ~ Gumbel(0,1)`, in decreasing order, are exactly a
/// PL sample without replacement (Yellott 1977; Kool et al. 2019).
///
/// Cost: one pass over N with a size-K min-heap, then a sort of the K survivors:
/// O(N + K log K · log(N/K)) expected, never a full sort of N.
///
/// Most items cannot enter the heap, and for those the two logarithms of
/// `g = −log(−log u)` are skipped: with κ the current K-th best key and `δ = κ − s_i`,
/// the item enters iff `u > c(δ) = exp(−e^{−δ})`. A table of lower bounds of `c` on a grid
/// of step 1/16 (taken one step low and two ulps down, so rounding can never flip a
/// decision) rejects the item from `u` alone; only the ≈ K(1 + ln(N/K))·e^{1/8} items that
/// pass are perturbed exactly. Every item still consumes exactly one uniform, so the
/// output is bitwise the one of the plain algorithm (`sampleReference`, tested equal).
public enum GumbelTopK {
    /// Grid step of the rejection table in δ, and its extent (δ ≥ 40 ⇒ c(δ) rounds to 1).
    @usableFromInline static let gridStep = 1.0 / 16
    @usableFromInline static let gridSize = 40 * 16
    /// `table[m]` ≤ c((m − 1)·step) ≤ c(δ) for every δ ≥ m·step.
    @usableFromInline static let rejectionTable: [Double] = (0...gridSize).map { m in
        let delta = Double(m - 1) * gridStep
        return Foundation.exp(-Foundation.exp(-delta)).nextDown.nextDown
    }

    /// Samples the ordered candidate list `σ` (length `min(k, N)`) with noise from `stream`.
    /// The noise of item i is the i-th Gumbel draw of the stream.
    public static func sample(scores s: [Double], k: Int, stream: inout RandomStream) -> [Int] {
        sampleWithKey(scores: s, k: k, stream: &stream).items
    }

    /// `sample`, also returning the K-th largest perturbed score `v_K = s_{σ_K} + g_{σ_K}`
    /// (−∞ when K = 0). In the exponential-race view item i arrives at
    /// `T_i = e^{−(s_i + g_i)}`, so `e^{−v_K}` is the K-th arrival time: an estimate of the
    /// threshold time of `ThresholdInclusion`.
    ///
    /// When the stream sits at a block boundary (a fresh stream), the uniforms come from
    /// `PhiloxBatch` 256 items at a time (the same words, so the same output), and the C
    /// kernel `capg_gumbel_candidates` (`Sources/CVectorMath/gumbel_scan.c`) marks the
    /// candidates of a piece of the chunk (`pieceSize`) at the κ on entry: it clears an item
    /// only when `1 − u ≥ e^{−(min(δ, 30) − 3/16)}` holds from the high word alone (a log₂
    /// lower bound from the float bits of `~w_hi >> 5`), which implies the table test
    /// rejects it; a block
    /// of 16 is first tested at its largest score and largest high word, so most blocks
    /// cost a few vector operations and no per-item work. κ only grows within the piece, so
    /// the marks stay valid; the candidates then take the per-item table test at the current
    /// κ. Otherwise the words come from the stream one by one. Either way the stream ends
    /// advanced by 2N words.
    ///
    /// Measured at N = 10⁵, K = 100 (`capg bench`, capg-threshold, AVX2 EPYC): ≈ 9.5 % of
    /// the run in the scan before the kernel (a scalar Swift block-max loop; ≈ 10 % of the
    /// blocks, ≈ 10⁴ items per call, then went item by item for ≈ 760 exact draws), ≈ 4 %
    /// with it (2.4 % in the kernel; perf cpu-clock samples, one run before, two after).
    public static func sampleWithKey(scores s: [Double], k: Int, stream: inout RandomStream)
        -> (items: [Int], kthKey: Double)
    {
        guard let heap = select(scores: s, k: k, stream: &stream) else { return ([], -.infinity) }
        return (heap.sortedDescending(), heap.keys[0])
    }

    /// `sampleWithKey` returning every selected item with its perturbed score
    /// `v_i = s_i + g_i`, in the output order (decreasing `v`, ties toward the smaller
    /// index); the last key is `v_K`. The same scan and the same stream advance, so the keys
    /// are bitwise those the sampler compared: what an item-sharded sampler needs to merge
    /// per-shard selections (`CAPGParallel`). Cost as `sampleWithKey`.
    public static func sampleWithPerturbedKeys(scores s: [Double], k: Int, stream: inout RandomStream)
        -> [(item: Int, key: Double)]
    {
        guard let heap = select(scores: s, k: k, stream: &stream) else { return [] }
        return heap.sortedEntriesDescending()
    }

    /// The selection shared by `sampleWithKey` and `sampleWithPerturbedKeys`: the heap of
    /// the `min(k, N)` best perturbed scores, or nil (stream untouched) when that is 0.
    static func select(scores s: [Double], k: Int, stream: inout RandomStream) -> TopKHeap? {
        let n = s.count
        let kk = Swift.min(k, n)
        precondition(kk >= 0)
        if kk == 0 { return nil }
        var heap = TopKHeap(capacity: kk)
        if stream.wordPosition % 4 != 0 {
            for i in 0..<kk {
                heap.offer(key: s[i] + stream.gumbel(), item: i)
            }
            let inverseStep = 1 / gridStep
            rejectionTable.withUnsafeBufferPointer { table in
                s.withUnsafeBufferPointer { sb in
                    for i in kk..<n {
                        let u = stream.uniform()
                        let delta = heap.keys[0] - sb[i]
                        if delta > 0 {
                            let m = delta * inverseStep
                            let bound = m >= Double(gridSize) ? table[gridSize] : table[Int(m)]
                            if u <= bound { continue }
                        }
                        heap.offer(key: sb[i] - Foundation.log(-Foundation.log(u)), item: i)
                    }
                }
            }
            return heap
        }
        let firstBlock = UInt32(truncatingIfNeeded: stream.wordPosition / 4)
        let key = stream.key
        let chunk = 256
        /// The uniform of the j-th item of a chunk: `(m + ½)·2⁻⁵³` from its two words, as `RandomStream.uniform()`.
        @inline(__always) func uniform(_ words: UnsafeMutableBufferPointer<UInt32>, _ j: Int) -> Double {
            let hi = UInt64(words[2 * j] >> 5), lo = UInt64(words[2 * j + 1] >> 6)
            return (Double(hi << 26 | lo) + 0.5) * 0x1p-53
        }
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 2 * chunk) { words in
            withUnsafeTemporaryAllocation(of: UInt64.self, capacity: chunk / 64) { mask in
                rejectionTable.withUnsafeBufferPointer { table in
                    s.withUnsafeBufferPointer { sb in
                        let inverseStep = 1 / gridStep
                        let last = table[gridSize]
                        var kappa = -Double.infinity
                        var start = 0
                        while start < n {
                            let count = Swift.min(chunk, n - start)
                            let wordCount = (2 * count + 3) & ~3
                            PhiloxBatch.fill(UnsafeMutableBufferPointer(rebasing: words[0..<wordCount]), key: key,
                                             firstBlock: firstBlock &+ UInt32(truncatingIfNeeded: start / 2))
                            var j = 0
                            // The first K items enter unconditionally.
                            while j < count && start + j < kk {
                                let u = uniform(words, j)
                                heap.offer(key: sb[start + j] + -Foundation.log(-Foundation.log(u)), item: start + j)
                                j += 1
                            }
                            if start + j >= kk { kappa = heap.keys[0] }
                            // The kernel clears only items the table test below would reject
                            // at the κ of the call, so visiting the candidates alone changes no
                            // decision while κ stays at or above it. κ only grows while the heap
                            // order holds; NaN scores can break it, and if κ falls the rest of the
                            // chunk is marked again at the new κ. (A NaN κ needs no new marks:
                            // nothing enters a full heap whose minimum key is NaN.) The kernel
                            // runs on pieces of `pieceSize` items, so κ is refreshed while it
                            // still rises fast (see there).
                            scan: while j < count {
                                let first = j, callKappa = kappa
                                let piece = Swift.min(count - first, Self.pieceSize(seen: start + first, chunk: chunk))
                                j = first + piece
                                _ = capg_gumbel_candidates(words.baseAddress! + 2 * first, sb.baseAddress! + start + first,
                                                           piece, kappa, mask.baseAddress!)
                                for w in 0..<((piece + 63) / 64) {
                                    var bits = mask[w]
                                    while bits != 0 {
                                        let jj = first + 64 * w + bits.trailingZeroBitCount
                                        bits &= bits - 1
                                        let i = start + jj
                                        let u = uniform(words, jj)
                                        let delta = kappa - sb[i]
                                        if delta > 0 {
                                            let m = delta * inverseStep
                                            let bound = m >= Double(gridSize) ? last : table[Int(m)]
                                            if u <= bound { continue }
                                        }
                                        heap.offer(key: sb[i] - Foundation.log(-Foundation.log(u)), item: i)
                                        kappa = heap.keys[0]
                                        if kappa < callKappa {
                                            j = jj + 1
                                            continue scan
                                        }
                                    }
                                }
                            }
                            start += count
                        }
                    }
                }
            }
        }
        stream.advance(words: 2 * n)
        return heap
    }

    /// How many items, from the `seen`-th on, the candidate kernel marks at one κ (the rest
    /// of the chunk when fewer remain): `seen` rounded up to a multiple of 16 (whole blocks
    /// for the kernel's block test), clamped to [32, chunk].
    ///
    /// Why: after `m` items, κ is the K-th best of `m` keys, and of the next `p` items
    /// ≈ K·p/m can still enter (times the slack of the kernel's and the table's bounds); a
    /// piece marked at a stale κ sends every marked item to the per-item table test in
    /// Swift. With one piece per 256-item chunk, the first chunk was marked at the low κ the
    /// heap had when it filled (the minimum of K fresh keys), while κ rises within a few dozen
    /// items. Pieces as long as the items seen so far keep the marks per piece at O(K) and
    /// cost O(log(256/K)) extra kernel calls per query, all in the first chunk (negligible at
    /// N = 10⁵, ≈ 400 chunks). At N = 1000, K = 10 (the paper setting, `capg bench`) the scan's
    /// own share of the perf cpu-clock samples fell from 10.4 % to 7.6 %, the kernel's
    /// (generic tail blocks included) from 4.7 % to 5.4 %.
    @inline(__always) @usableFromInline
    static func pieceSize(seen: Int, chunk: Int) -> Int {
        Swift.min(chunk, Swift.max(32, (seen + 15) & ~15))
    }

    /// The plain algorithm (a Gumbel draw for every item); the reference `sample` must match.
    public static func sampleReference(scores s: [Double], k: Int, stream: inout RandomStream) -> [Int] {
        let kk = Swift.min(k, s.count)
        if kk == 0 { return [] }
        var heap = TopKHeap(capacity: kk)
        for i in s.indices { heap.offer(key: s[i] + stream.gumbel(), item: i) }
        return heap.sortedDescending()
    }

    /// Deterministic top-K of `s` (largest first); O(N + K log K · log(N/K)).
    public static func topK(_ s: [Double], k: Int) -> [Int] {
        let kk = Swift.min(k, s.count)
        if kk == 0 { return [] }
        var heap = TopKHeap(capacity: kk)
        for i in s.indices { heap.offer(key: s[i], item: i) }
        return heap.sortedDescending()
    }
}

/// A fixed-capacity binary min-heap of `(key, item)` keeping the `capacity` largest keys.
/// Ties are broken toward the smaller item index, so selection is deterministic.
@usableFromInline
struct TopKHeap {
    @usableFromInline var keys: [Double]
    @usableFromInline var items: [Int]
    @usableFromInline let capacity: Int

    @usableFromInline init(capacity: Int) {
        self.capacity = capacity
        keys = []; items = []
        keys.reserveCapacity(capacity); items.reserveCapacity(capacity)
    }

    /// `a` ranks below `b` (is the better candidate for eviction).
    @inline(__always) @usableFromInline
    func below(_ ka: Double, _ ia: Int, _ kb: Double, _ ib: Int) -> Bool {
        ka < kb || (ka == kb && ia > ib)
    }

    @inlinable mutating func offer(key: Double, item: Int) {
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

    /// The items by decreasing key (ties toward the smaller index): the heap's minimum popped
    /// into the last free slot, on a stack copy, so the result array is the only allocation
    /// (a sort of the indices and a map cost two more per rollout). `below` is a strict total
    /// order, so this is exactly the sorted order. O(K log K).
    @usableFromInline func sortedDescending() -> [Int] {
        let n = keys.count
        return [Int](unsafeUninitializedCapacity: n) { out, initialized in
            withUnsafeTemporaryAllocation(of: Double.self, capacity: n) { k in
                withUnsafeTemporaryAllocation(of: Int.self, capacity: n) { it in
                    for i in 0..<n { k[i] = keys[i]; it[i] = items[i] }
                    var size = n
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
                }
            }
            initialized = n
        }
    }

    /// `(item, key)` pairs in the order of `sortedDescending`.
    func sortedEntriesDescending() -> [(item: Int, key: Double)] {
        let order = keys.indices.sorted { below(keys[$1], items[$1], keys[$0], items[$0]) }
        return order.map { (items[$0], keys[$0]) }
    }
}
