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
    /// rejects it; a block of 16 is first tested at its largest score and largest high word,
    /// so most blocks cost a few vector operations and no per-item work. κ only grows within
    /// the piece, so the marks stay valid; the candidates then take the per-item table test
    /// at the current κ. Otherwise the words come from the stream one by one. Either way the
    /// stream ends advanced by 2N words.
    ///
    /// Measured at N = 10⁵, K = 100 (`capg bench`, capg-threshold, AVX2 EPYC): ≈ 9.5 % of
    /// the run in the scan before the kernel (a scalar Swift block-max loop; ≈ 10 % of the
    /// blocks, ≈ 10⁴ items per call, then went item by item for ≈ 760 exact draws), ≈ 4 %
    /// with it (2.4 % in the kernel; perf cpu-clock samples, one run before, two after).
    public static func sampleWithKey(scores s: [Double], k: Int, stream: inout RandomStream)
        -> (items: [Int], kthKey: Double)
    {
        s.withUnsafeBufferPointer { drawWithKey(scores: $0, k: k, stream: &stream) }
    }

    /// `sampleWithKey` on a Float score row, read in place (the trainer's rows of the B×N
    /// score matrix): bitwise the result, and the stream advance, of the `[Double]` form on
    /// the widened row (the same scan, generic over the element; each score is widened
    /// where it is read, exactly, and the candidate kernel has a float variant). Saves the
    /// O(N) widening pass and reads 4 bytes per item instead of 8. Cost as `sampleWithKey`.
    public static func sampleWithKey(scores s: UnsafeBufferPointer<Float>, k: Int, stream: inout RandomStream)
        -> (items: [Int], kthKey: Double)
    {
        drawWithKey(scores: s, k: k, stream: &stream)
    }

    /// `sampleWithKey` for either element type (specialized for both).
    @inline(__always)
    static func drawWithKey<S: ScoreElement>(scores s: UnsafeBufferPointer<S>, k: Int, stream: inout RandomStream)
        -> (items: [Int], kthKey: Double)
    {
        select(scores: s, k: k, stream: &stream) { heap in
            let kth = heap.minimumKey
            return (heap.drainDescending(), kth)
        } ?? ([], -.infinity)
    }

    /// `sampleWithKey` returning every selected item with its perturbed score
    /// `v_i = s_i + g_i`, in the output order (decreasing `v`, ties toward the smaller
    /// index); the last key is `v_K`. The same scan and the same stream advance, so the keys
    /// are bitwise those the sampler compared: what an item-sharded sampler needs to merge
    /// per-shard selections (`CAPGParallel`). Cost as `sampleWithKey`.
    public static func sampleWithPerturbedKeys(scores s: [Double], k: Int, stream: inout RandomStream)
        -> [(item: Int, key: Double)]
    {
        s.withUnsafeBufferPointer { sb in select(scores: sb, k: k, stream: &stream) { heap in heap.sortedEntries() } } ?? []
    }

    /// The selection shared by `sampleWithKey` and `sampleWithPerturbedKeys`: `body` of the
    /// heap of the `min(k, N)` best perturbed scores, or nil (stream untouched) when that is
    /// 0. The heap lives in a stack buffer for the call (`body` may drain it), so a rollout
    /// allocates only what `body` returns. Generic over the row's element type (see
    /// `ScoreElement`): a Float row gives bitwise what its widened Double row gives.
    static func select<S: ScoreElement, R>(scores s: UnsafeBufferPointer<S>, k: Int, stream: inout RandomStream,
                                           _ body: (inout UnsafeTopKHeap) -> R) -> R? {
        let n = s.count
        let kk = Swift.min(k, n)
        precondition(kk >= 0)
        if kk == 0 { return nil }
        return withUnsafeTemporaryAllocation(of: TopKEntry.self, capacity: kk) { slots in
            var heap = UnsafeTopKHeap(base: slots.baseAddress!, capacity: kk)
            scan(scores: s, heap: &heap, stream: &stream)
            return body(&heap)
        }
    }

    /// The scan of `select` into an empty `heap` of capacity `min(k, N)` ≥ 1.
    private static func scan<S: ScoreElement>(scores s: UnsafeBufferPointer<S>, heap: inout UnsafeTopKHeap,
                                              stream: inout RandomStream) {
        let n = s.count
        let kk = heap.capacity
        if stream.wordPosition % 4 != 0 {
            for i in 0..<kk {
                heap.offer(key: s[i].double + stream.gumbel(), item: i)
            }
            let inverseStep = 1 / gridStep
            rejectionTable.withUnsafeBufferPointer { table in
                for i in kk..<n {
                    let u = stream.uniform()
                    let si = s[i].double
                    let delta = heap.minimumKey - si
                    if delta > 0 {
                        let m = delta * inverseStep
                        let bound = m >= Double(gridSize) ? table[gridSize] : table[Int(m)]
                        if u <= bound { continue }
                    }
                    heap.offer(key: si - Foundation.log(-Foundation.log(u)), item: i)
                }
            }
            return
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
                            heap.offer(key: s[start + j].double + -Foundation.log(-Foundation.log(u)), item: start + j)
                            j += 1
                        }
                        if start + j >= kk { kappa = heap.minimumKey }
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
                            _ = S.gumbelCandidates(words: words.baseAddress! + 2 * first,
                                                   scores: s.baseAddress! + start + first, count: piece,
                                                   kappa: kappa, mask: mask.baseAddress!)
                            for w in 0..<((piece + 63) / 64) {
                                var bits = mask[w]
                                while bits != 0 {
                                    let jj = first + 64 * w + bits.trailingZeroBitCount
                                    bits &= bits - 1
                                    let i = start + jj
                                    let u = uniform(words, jj)
                                    let si = s[i].double
                                    let delta = kappa - si
                                    if delta > 0 {
                                        let m = delta * inverseStep
                                        let bound = m >= Double(gridSize) ? last : table[Int(m)]
                                        if u <= bound { continue }
                                    }
                                    heap.offer(key: si - Foundation.log(-Foundation.log(u)), item: i)
                                    kappa = heap.minimumKey
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
        stream.advance(words: 2 * n)
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
    /// N = 10⁵, ≈ 400 chunks). At N = 1000, K = 10 with normal scores, per query: ≈ 260
    /// marked items with one piece per chunk, ≈ 90 with these pieces (7 kernel calls), for
    /// ≈ 50 exact draws and ≈ 45 heap entries; pieces of a quarter of the items seen mark
    /// ≈ 72 with 16 calls. In the paper-setting bench the scan's own share of the perf
    /// cpu-clock samples fell from 10.4 % to 7.6 %.
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

/// One slot of a `TopKHeap`: a key and its item, side by side so a sift moves one 16-byte pair.
@usableFromInline
struct TopKEntry {
    @usableFromInline var key: Double
    @usableFromInline var item: Int

    @inlinable init(key: Double, item: Int) { self.key = key; self.item = item }
}

/// The binary min-heap of `TopKHeap` on memory it does not own (a stack buffer in
/// `GumbelTopK.select`, the array of a `TopKHeap`): `base[0 ..< count]` in heap order under
/// `below`, at most `capacity` entries. The sifts move a hole instead of swapping, and make
/// exactly the comparisons of a swapping sift (each against the entry being placed), so the
/// layout — and with it every later result — is the swapping heap's bitwise, NaN keys
/// included (`below` is not a strict order for them). No bounds checks: the caller owns
/// `capacity` slots at `base`.
@usableFromInline
struct UnsafeTopKHeap {
    @usableFromInline let base: UnsafeMutablePointer<TopKEntry>
    @usableFromInline let capacity: Int
    @usableFromInline var count: Int

    @inlinable init(base: UnsafeMutablePointer<TopKEntry>, capacity: Int, count: Int = 0) {
        self.base = base; self.capacity = capacity; self.count = count
    }

    /// `a` ranks below `b` (is the better candidate for eviction): smaller key, then the
    /// larger item.
    @inline(__always) @inlinable
    static func below(_ ka: Double, _ ia: Int, _ kb: Double, _ ib: Int) -> Bool {
        ka < kb || (ka == kb && ia > ib)
    }

    /// `below` with every comparison evaluated (no short circuit), so the sifts can select
    /// instead of branch on it.
    @inline(__always) @inlinable
    static func belowSelect(_ ka: Double, _ ia: Int, _ kb: Double, _ ib: Int) -> Bool {
        let less = ka < kb, equal = ka == kb, later = ia > ib
        return less != (equal && later) // at most one holds: less and equal exclude each other
    }

    /// The smallest key (the K-th largest once full). Requires count > 0.
    @inlinable var minimumKey: Double { base[0].key }

    /// Keeps `(key, item)` if the heap is not full or it ranks above the minimum, which it
    /// then evicts. O(log capacity).
    @inlinable mutating func offer(key: Double, item: Int) {
        if count < capacity {
            // Sift up from the new last slot.
            var c = count
            count += 1
            while c > 0 {
                let p = (c - 1) / 2
                let parent = base[p]
                if !Self.below(key, item, parent.key, parent.item) { break }
                base[c] = parent
                c = p
            }
            base[c] = TopKEntry(key: key, item: item)
            return
        }
        let root = base[0]
        if !Self.below(root.key, root.item, key, item) { return }
        siftDown(key: key, item: item, size: count)
    }

    /// Places `(key, item)` at the root of `base[0 ..< size]` (whose old root is gone) and
    /// sifts it down.
    @inlinable func siftDown(key: Double, item: Int, size n: Int) {
        var p = 0
        while true {
            let l = 2 * p + 1, r = l + 1
            if l >= n { break }
            let el = base[l]
            let takeL = Self.belowSelect(el.key, el.item, key, item)
            var m = takeL ? l : p
            let mk = takeL ? el.key : key, mi = takeL ? el.item : item
            if r < n {
                let er = base[r]
                m = Self.belowSelect(er.key, er.item, mk, mi) ? r : m
            }
            if m == p { break }
            base[p] = base[m]
            p = m
        }
        base[p] = TopKEntry(key: key, item: item)
    }

    /// Empties the heap into `out[0 ..< count]` by decreasing key (ties toward the smaller
    /// index): the minimum popped into the last free slot, K times. `below` is a strict
    /// total order on non-NaN keys, so this is exactly the sorted order. O(K log K).
    @inlinable mutating func drainDescending(into out: UnsafeMutablePointer<Int>) {
        while count > 0 {
            out[count - 1] = base[0].item
            count -= 1
            if count > 0 {
                let last = base[count]
                siftDown(key: last.key, item: last.item, size: count)
            }
        }
    }

    /// The items by decreasing key, as a new array (the heap is left empty).
    @inlinable mutating func drainDescending() -> [Int] {
        let n = count
        if n == 0 { return [] } // an empty buffer may have no base address
        return [Int](unsafeUninitializedCapacity: n) { out, initialized in
            drainDescending(into: out.baseAddress!)
            initialized = n
        }
    }

    /// `(item, key)` pairs in decreasing order (ties toward the smaller index) by a sort of
    /// the entries in their heap layout (which, unlike `drainDescending`, leaves NaN keys
    /// where the sort puts them; kept so the item-sharded merge sees what it always saw).
    func sortedEntries() -> [(item: Int, key: Double)] {
        Array(UnsafeBufferPointer(start: base, count: count))
            .sorted { Self.below($1.key, $1.item, $0.key, $0.item) }
            .map { ($0.item, $0.key) }
    }
}

/// A fixed-capacity binary min-heap of `(key, item)` keeping the `capacity` largest keys.
/// Ties are broken toward the smaller item index, so selection is deterministic. Owns its
/// slots (one array of `capacity` entries, the first `count` in use) and runs
/// `UnsafeTopKHeap` on them.
@usableFromInline
struct TopKHeap {
    @usableFromInline var entries: [TopKEntry]
    @usableFromInline let capacity: Int
    @usableFromInline var count: Int = 0

    @usableFromInline init(capacity: Int) {
        self.capacity = capacity
        entries = [TopKEntry](repeating: TopKEntry(key: 0, item: 0), count: capacity)
    }

    /// The smallest kept key (the K-th largest once full); nil when empty.
    @inlinable var minimumKey: Double? { count > 0 ? entries[0].key : nil }

    @inlinable mutating func offer(key: Double, item: Int) {
        // A full heap rejects most offers of a scan: decided without touching the buffer.
        if count == capacity {
            guard count > 0 else { return }
            let root = entries[0]
            if !UnsafeTopKHeap.below(root.key, root.item, key, item) { return }
        }
        let n = count, cap = capacity
        count = entries.withUnsafeMutableBufferPointer { b in
            var heap = UnsafeTopKHeap(base: b.baseAddress!, capacity: cap, count: n)
            heap.offer(key: key, item: item)
            return heap.count
        }
    }

    /// The items by decreasing key (ties toward the smaller index), from a stack copy of the
    /// entries drained into the result array (its only allocation). O(K log K).
    @usableFromInline func sortedDescending() -> [Int] {
        let n = count
        if n == 0 { return [] } // an empty buffer may have no base address
        return withUnsafeTemporaryAllocation(of: TopKEntry.self, capacity: n) { copy in
            entries.withUnsafeBufferPointer { e in
                for i in 0..<n { copy[i] = e[i] }
            }
            var heap = UnsafeTopKHeap(base: copy.baseAddress!, capacity: n, count: n)
            return heap.drainDescending()
        }
    }
}
