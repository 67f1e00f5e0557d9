/// One contiguous block of the N items of a row in item-sharded (model-parallel) training:
/// shard `s` of `S` holds items `lo..<hi` with `lo = ⌊s·N/S⌋`, `hi = ⌊(s+1)·N/S⌋`, so the
/// blocks tile `0..<N` in order and their sizes differ by at most one. O(1) everything.
public struct ItemShard: Hashable, Sendable {
    /// Global item count N.
    public let itemCount: Int
    /// Shard count S.
    public let shardCount: Int
    /// This shard's index s, `0 ≤ s < S`.
    public let index: Int

    /// Throws `ShardingError.invalidShard` unless `N ≥ 0`, `S ≥ 1` and `0 ≤ s < S`.
    /// (S > N is allowed: the surplus shards are empty.)
    public init(itemCount: Int, shardCount: Int, index: Int) throws(ShardingError) {
        guard itemCount >= 0, shardCount >= 1, index >= 0, index < shardCount else {
            throw .invalidShard(itemCount: itemCount, shardCount: shardCount, index: index)
        }
        self.init(validated: itemCount, shardCount: shardCount, index: index)
    }

    /// For a layout already checked.
    private init(validated itemCount: Int, shardCount: Int, index: Int) {
        self.itemCount = itemCount
        self.shardCount = shardCount
        self.index = index
    }

    /// `⌊s·N/S⌋`, the first item of shard s (s = S gives N).
    @inline(__always)
    static func boundary(_ s: Int, itemCount n: Int, shardCount: Int) -> Int {
        // s·N fits in Int for any realistic N, S (< 2^31 each).
        s * n / shardCount
    }

    /// First global item of this shard.
    public var lo: Int { Self.boundary(index, itemCount: itemCount, shardCount: shardCount) }
    /// One past the last global item of this shard.
    public var hi: Int { Self.boundary(index + 1, itemCount: itemCount, shardCount: shardCount) }
    /// `lo..<hi`.
    public var range: Range<Int> { lo..<hi }
    /// `hi − lo`.
    public var count: Int { hi - lo }

    /// Whether global item `i` lies in this shard.
    public func contains(_ item: Int) -> Bool { range.contains(item) }

    /// The index of the shard holding global item i (`0 ≤ i < N`): the largest s with
    /// `⌊s·N/S⌋ ≤ i`, i.e. `s = ⌊((i+1)·S − 1)/N⌋`. O(1).
    public func owner(of item: Int) -> Int {
        precondition(item >= 0 && item < itemCount, "item \(item) out of range 0..<\(itemCount)")
        return ((item + 1) * shardCount - 1) / itemCount
    }

    /// All S shards of the same layout, in order.
    public var all: [ItemShard] {
        (0..<shardCount).map { ItemShard(validated: itemCount, shardCount: shardCount, index: $0) }
    }
}
