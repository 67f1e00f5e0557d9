import CAPGCore
@testable import CAPGParallel
import Foundation

/// A full row split over S shards as each shard's rank would hold it.
struct SplitRow {
    let shards: [ItemShard]
    let parts: [[Double]]

    init(_ s: [Double], shardCount: Int) {
        shards = try! ItemShard(itemCount: s.count, shardCount: shardCount, index: 0).all
        parts = shards.map { Array(s[$0.range]) }
    }

    /// Local gradient rows, one per shard, all zero.
    func zeroGradients() -> [[Double]] { shards.map { [Double](repeating: 0, count: $0.count) } }

    /// The row's log-partition excluding `excluded`, reduced in-process (max, then sum).
    func partition(excluding excluded: [Int] = []) -> LogPartition {
        let m = zip(parts, shards).map { try! ShardedLogSumExp.localMax(scores: $0, shard: $1, excluding: excluded) }
            .reduce(-Double.infinity) { Swift.max($0, $1) }
        let z = zip(parts, shards).map {
            try! ShardedLogSumExp.localSum(scores: $0, shard: $1, excluding: excluded, shift: m)
        }.reduce(0, +)
        return LogPartition(restMax: m, restSum: z)
    }
}

/// Deterministic test scores: `scale · N(0,1)` from a Philox stream.
func testScores(_ n: Int, seed: Int, scale: Double = 1) -> [Double] {
    var st = RandomStream(RandomKey(seed: UInt64(seed), purpose: .variance, query: seed % 1000))
    return (0..<n).map { _ in scale * st.normal() }
}

/// `max |a − b| / max |b|` (0 when both vanish).
func relativeError(_ a: [Double], _ b: [Double]) -> Double {
    precondition(a.count == b.count)
    var diff = 0.0, size = 0.0
    for i in a.indices {
        diff = Swift.max(diff, Swift.abs(a[i] - b[i]))
        size = Swift.max(size, Swift.abs(b[i]))
    }
    if diff == 0 { return 0 }
    return size == 0 ? .infinity : diff / size
}
