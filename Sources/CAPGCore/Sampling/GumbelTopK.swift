import Foundation

/// Gumbel-top-K sampling of a Plackett-Luce K-prefix: the items with the K largest
/// perturbed scores `s_i + g_i`, `g_i ~ Gumbel(0,1)`, in decreasing order, are exactly a
/// PL sample without replacement (Yellott 1977; Kool et al. 2019).
///
/// Cost: one pass over N with a size-K min-heap (an item enters only if it beats the
/// current K-th best, so after the first few thousand items almost none do), then a sort
/// of the K survivors: O(N + K log K · log(N/K)) expected, never a full sort of N.
public enum GumbelTopK {
    /// Samples the ordered candidate list `σ` (length `min(k, N)`) with noise from `stream`.
    /// The noise of item i is the i-th Gumbel draw of the stream.
    public static func sample(scores s: [Double], k: Int, stream: inout RandomStream) -> [Int] {
        let n = s.count
        let kk = Swift.min(k, n)
        precondition(kk >= 0)
        if kk == 0 { return [] }
        var heap = TopKHeap(capacity: kk)
        for i in 0..<n {
            heap.offer(key: s[i] + stream.gumbel(), item: i)
        }
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

    @usableFromInline func sortedDescending() -> [Int] {
        let order = keys.indices.sorted { below(keys[$1], items[$1], keys[$0], items[$0]) }
        return order.map { items[$0] }
    }
}
