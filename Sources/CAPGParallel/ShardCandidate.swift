/// One entry of a shard's Gumbel-top-K selection: a global item index, its perturbed score
/// `v_i = s_i + g_i` (the sort key) and its raw score `s_i`. The raw score travels with the
/// candidate because the later phases (inclusion, PL normalizers, top-K factor, distillation)
/// need the candidates' scores on every shard, not only on the owner's.
public struct ShardCandidate: Hashable, Sendable {
    public var item: Int
    public var key: Double
    public var score: Double

    public init(item: Int, key: Double, score: Double) {
        self.item = item; self.key = key; self.score = score
    }

    /// The order of `GumbelTopK`'s heap: `self` ranks before `other` when its key is larger,
    /// ties toward the smaller item index (so the merge is deterministic and matches).
    @inline(__always)
    public func ranksBefore(_ other: ShardCandidate) -> Bool {
        key > other.key || (key == other.key && item < other.item)
    }

    /// Doubles per entry in a packed payload.
    public static let packedWidth = 3

    /// A fixed-size payload of `3k` doubles, `(item, key, score)` per entry, the list padded
    /// with `(−1, −∞, 0)`: what a shard contributes to the all-gather of a query (item
    /// indices are exact in a Double below 2^53). O(k).
    public static func pack(_ list: [ShardCandidate], k: Int) -> [Double] {
        precondition(list.count <= k, "\(list.count) candidates do not fit a payload of \(k)")
        var out = [Double](repeating: 0, count: packedWidth * k)
        for e in 0..<k {
            if e < list.count {
                out[3 * e] = Double(list[e].item); out[3 * e + 1] = list[e].key; out[3 * e + 2] = list[e].score
            } else {
                out[3 * e] = -1; out[3 * e + 1] = -.infinity
            }
        }
        return out
    }

    /// The entries of a `pack`ed payload (padding dropped). Throws when the count is not a
    /// multiple of 3. O(k).
    public static func unpack(_ payload: [Double]) throws(ShardingError) -> [ShardCandidate] {
        guard payload.count % packedWidth == 0 else {
            throw .payloadCountMismatch(expected: payload.count / packedWidth * packedWidth, got: payload.count)
        }
        var out: [ShardCandidate] = []
        for e in 0..<(payload.count / packedWidth) where payload[3 * e] >= 0 {
            out.append(ShardCandidate(item: Int(payload[3 * e]), key: payload[3 * e + 1], score: payload[3 * e + 2]))
        }
        return out
    }
}

/// The merged global Gumbel-top-K sample of one query: the candidates in decreasing key
/// order (σ), with their raw scores.
public struct CandidateSample: Hashable, Sendable {
    public var candidates: [ShardCandidate]

    public init(candidates: [ShardCandidate]) { self.candidates = candidates }

    /// σ: the global item indices in order.
    public var items: [Int] { candidates.map(\.item) }
    /// `s_{σ_1} … s_{σ_K}`.
    public var scores: [Double] { candidates.map(\.score) }
    /// `v_K`, the K-th largest perturbed score (−∞ when empty), as `GumbelTopK.sampleWithKey`.
    public var kthKey: Double { candidates.last?.key ?? -.infinity }
}
