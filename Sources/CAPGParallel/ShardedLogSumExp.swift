import CAPGCore
import Foundation

/// `log Σ_{j∉E} e^{s_j}` of an item-sharded row, E a small excluded set (typically the
/// sampled candidates σ, or empty), in two reductions: the max over the row minus E, then the
/// sum of `e^{s_j − max}`. The excluded items' scores are known on every shard (they come
/// with the merged candidates), so the full-row log-sum-exp and max follow without a third
/// reduction (`LogPartition.logTotal`/`maximum`). Excluding σ rather than subtracting it
/// later keeps the tail exact when σ holds all but 1e-300 of the mass (a peaked policy), as
/// `PlackettLuce`'s tail does.
///
/// Communication per query: 1 max-reduce + 1 sum-reduce of one scalar each.
public enum ShardedLogSumExp {
    /// Phase 1: `max_{j ∈ shard, j ∉ E} s_j` (−∞ when none). `excluded`: global indices, any
    /// order. Caller reduces by max. O(n_s + |E| log |E|).
    public static func localMax(scores: [Double], shard: ItemShard, excluding excluded: [Int] = [])
        throws(ShardingError) -> Double
    {
        guard scores.count == shard.count else { throw .scoreCountMismatch(expected: shard.count, got: scores.count) }
        let mask = ExclusionMask(shard: shard, excluded: excluded)
        var m = -Double.infinity
        for j in scores.indices where !mask.contains(local: j) && scores[j] > m { m = scores[j] }
        return m
    }

    /// Phase 2: `Σ_{j ∈ shard, j ∉ E} e^{s_j − shift}` with `shift` the reduced max (0 when the
    /// shift is −∞: nothing left). Caller reduces by sum. O(n_s) with one exp per item.
    public static func localSum(scores: [Double], shard: ItemShard, excluding excluded: [Int] = [], shift: Double)
        throws(ShardingError) -> Double
    {
        guard scores.count == shard.count else { throw .scoreCountMismatch(expected: shard.count, got: scores.count) }
        if shift == -.infinity { return 0 }
        let mask = ExclusionMask(shard: shard, excluded: excluded)
        var z = 0.0
        for j in scores.indices where !mask.contains(local: j) { z += Foundation.exp(scores[j] - shift) }
        return z
    }
}

extension ShardedLogSumExp {
    /// `localMax` for a chunk of Q queries (`excluded[q]` per query, or none): a max-reduce
    /// payload of Q doubles. O(Σ n_s).
    public static func localMaxima(rows: [[Double]], shard: ItemShard, excluding excluded: [[Int]]? = nil)
        throws(ShardingError) -> [Double]
    {
        if let excluded, excluded.count != rows.count {
            throw .payloadCountMismatch(expected: rows.count, got: excluded.count)
        }
        var out: [Double] = []
        for q in rows.indices { out.append(try localMax(scores: rows[q], shard: shard, excluding: excluded?[q] ?? [])) }
        return out
    }

    /// `localSum` for a chunk of Q queries with the reduced maxima as shifts: a sum-reduce
    /// payload of Q doubles. O(Σ n_s).
    public static func localSums(rows: [[Double]], shard: ItemShard, excluding excluded: [[Int]]? = nil,
                                 shifts: [Double]) throws(ShardingError) -> [Double]
    {
        if let excluded, excluded.count != rows.count {
            throw .payloadCountMismatch(expected: rows.count, got: excluded.count)
        }
        guard shifts.count == rows.count else { throw .payloadCountMismatch(expected: rows.count, got: shifts.count) }
        var out: [Double] = []
        for q in rows.indices {
            out.append(try localSum(scores: rows[q], shard: shard, excluding: excluded?[q] ?? [], shift: shifts[q]))
        }
        return out
    }
}

/// The reduced result of `ShardedLogSumExp`: `restMax = max_{j∉E} s_j` and
/// `restSum = Σ_{j∉E} e^{s_j − restMax}`, identical on every shard.
public struct LogPartition: Hashable, Sendable {
    public var restMax: Double
    public var restSum: Double

    public init(restMax: Double, restSum: Double) {
        self.restMax = restMax; self.restSum = restSum
    }

    /// `log Σ_{j∉E} e^{s_j} = restMax + log restSum` (−∞ when E is every item). O(1).
    public var logRest: Double {
        restMax == -.infinity || restSum == 0 ? -.infinity : restMax + Foundation.log(restSum)
    }

    /// `max_j s_j` over the whole row, given the excluded items' scores. O(|E|).
    public func maximum(excludedScores: [Double]) -> Double {
        excludedScores.reduce(restMax) { Swift.max($0, $1) }
    }

    /// `log Σ_j e^{s_j}` over the whole row: `logaddexp` of the tail and each excluded score,
    /// largest-shift first so no term overflows. O(|E|).
    public func logTotal(excludedScores: [Double]) -> Double {
        let m = maximum(excludedScores: excludedScores)
        if m == -.infinity { return -.infinity }
        var z = restMax == -.infinity ? 0 : restSum * Foundation.exp(restMax - m)
        for v in excludedScores { z += Foundation.exp(v - m) }
        return m + Foundation.log(z)
    }
}

/// Which of a shard's items are in a small excluded set: a sorted list of the excluded local
/// indices, probed by binary search (|E| = K is small next to n_s). O(|E| log |E|) to build.
struct ExclusionMask {
    private let local: [Int]

    init(shard: ItemShard, excluded: [Int]) {
        let lo = shard.lo, hi = shard.hi
        local = excluded.lazy.filter { $0 >= lo && $0 < hi }.map { $0 - lo }.sorted()
    }

    var isEmpty: Bool { local.isEmpty }

    @inline(__always)
    func contains(local j: Int) -> Bool {
        if local.isEmpty { return false }
        var a = 0, b = local.count
        while a < b {
            let m = (a + b) / 2
            if local[m] < j { a = m + 1 } else { b = m }
        }
        return a < local.count && local[a] == j
    }
}
