/// A uniformly random K-subset of `0..<N`: what Gumbel-top-K draws when every score is
/// equal (the uniformly random ESR), without touching the other N − K items.
///
/// Floyd's algorithm: for j = N − K, …, N − 1 draw t uniform on `0…j` and add t, or j if t
/// is already in the set. Every K-subset comes out with probability 1/C(N, K) (induction
/// on j: the step keeps the set uniform over subsets of `0…j`). The order of the returned
/// items is not uniform; callers that need a random order must shuffle (the evaluation's
/// set value does not depend on it). Cost: K draws (64-bit, unbiased) and K set lookups,
/// O(K) expected — against Gumbel-top-K's N draws of two words each.
public enum UniformSubset {
    /// The subset, in insertion order; all of `0..<n` when `k ≥ n`.
    public static func sample(n: Int, k: Int, stream: inout RandomStream) -> [Int] {
        precondition(n >= 0 && k >= 0, "UniformSubset needs n, k ≥ 0 (got n = \(n), k = \(k))")
        if k >= n { return Array(0..<n) }
        var chosen = Set<Int>(minimumCapacity: k)
        var out: [Int] = []
        out.reserveCapacity(k)
        for j in (n - k)..<n {
            let t = stream.index(upTo: j + 1)
            let item = chosen.contains(t) ? j : t
            chosen.insert(item)
            out.append(item)
        }
        return out
    }
}

extension RandomStream {
    /// Uniform integer on `0..<n`, exactly (Lemire's multiply-shift on a 64-bit word with
    /// rejection of the biased low products), for any n ≥ 1 — where `index(below:)`'s
    /// 32-bit product has a relative bias of up to n/2³² (2 % at n = 10⁸). Two words per
    /// draw, rarely more.
    @inlinable
    public mutating func index(upTo n: Int) -> Int {
        precondition(n >= 1, "index(upTo:) needs n ≥ 1 (got \(n))")
        let s = UInt64(n)
        var m = next64().multipliedFullWidth(by: s)
        if m.low < s {
            let threshold = (0 &- s) % s  // 2⁶⁴ mod s
            while m.low < threshold { m = next64().multipliedFullWidth(by: s) }
        }
        return Int(m.high)
    }

    /// Two words as one 64-bit word (first word high).
    @inlinable
    mutating func next64() -> UInt64 { UInt64(nextWord()) << 32 | UInt64(nextWord()) }
}
