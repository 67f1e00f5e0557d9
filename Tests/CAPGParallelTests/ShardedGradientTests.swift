import CAPGCore
@testable import CAPGParallel
import XCTest

/// V-PG, top-K correction and distillation: the shards' gradient rows, concatenated, against
/// the full-row CAPGCore computation.
final class ShardedGradientTests: XCTestCase {
    func shardedPL(_ s: [Double], prefix: [Int], shardCount: Int, scale: Double) throws -> ([Double], Double) {
        let row = SplitRow(s, shardCount: shardCount)
        let partition = row.partition(excluding: prefix)
        var g = row.zeroGradients()
        var lp = 0.0
        for i in row.shards.indices {
            lp = try ShardedPlackettLuce.accumulateShardGradient(
                prefix: prefix, prefixScores: prefix.map { s[$0] }, logRest: partition.logRest, scores: row.parts[i],
                shard: row.shards[i], scale: scale, into: &g[i])
        }
        return (Array(g.joined()), lp)
    }

    func checkPL(_ s: [Double], prefix: [Int], _ label: String) throws {
        var expected = [Double](repeating: 0, count: s.count)
        let lpFull = PlackettLuce.accumulateLogProbabilityGradient(scores: s, prefix: prefix, scale: 0.7, into: &expected)
        for shardCount in 1...4 {
            let (g, lp) = try shardedPL(s, prefix: prefix, shardCount: shardCount, scale: 0.7)
            XCTAssertLessThanOrEqual(relativeError(g, expected), 1e-9, "\(label) S=\(shardCount)")
            XCTAssertEqual(lp, lpFull, accuracy: 1e-9 * Swift.max(1, Swift.abs(lpFull)), "\(label) S=\(shardCount)")
        }
    }

    func testPlackettLuceGradientMatchesFullRow() throws {
        for n in [1, 3, 8, 50, 400] {
            for k in [1, 2, 5, 8] where k <= n {
                for spread in [0.5, 3.0, 20.0] {
                    let s = testScores(n, seed: 7 * n + k, scale: spread)
                    var st = RandomStream(RandomKey(seed: 11, purpose: .candidateSampling, query: n * 10 + k))
                    let prefix = GumbelTopK.sample(scores: s, k: k, stream: &st)
                    try checkPL(s, prefix: prefix, "N=\(n) K=\(k) spread=\(spread)")
                    // A prefix the policy would rarely draw (low items first).
                    let low = Array(s.indices.sorted { s[$0] < s[$1] }.prefix(k))
                    try checkPL(s, prefix: low, "low prefix N=\(n) K=\(k) spread=\(spread)")
                }
            }
        }
    }

    /// Gaps ≫ 745 between scores: the tail is far below the prefix (and below e^{−745} of it).
    func testPlackettLucePeakedScores() throws {
        let s: [Double] = [3000, 1000, 0, -900, 2000, -2500, 1, 999, -5000, 2]
        for prefix in [[0, 4, 1], [0, 4, 1, 7, 9, 6, 2], [0], [2, 0], [8, 5, 3, 2, 6, 9, 1, 7, 4, 0]] {
            try checkPL(s, prefix: prefix, "peaked prefix \(prefix)")
        }
        // A peaked row whose prefix holds all the mass: the gradient is tiny but nonzero.
        let t: [Double] = [0, -1000, -1000.5, -1001, -3000]
        try checkPL(t, prefix: [0, 1], "all mass in σ")
    }

    /// Against `TopKCorrection` while `1 − π_a ≥ 1e-6` (where its `log1p(−π_a)` is accurate
    /// to 1e-10), and always against a reference with `1 − π_a` from a log-sum-exp over j ≠ a.
    func testTopKCorrectionMatchesFullRow() throws {
        var withCore = 0, peaked = 0
        for n in [2, 9, 100] {
            for k in [1, 3, 10] {
                for spread in [0.5, 3.0, 10.0, 40.0] {
                    let s = testScores(n, seed: 31 * n + k, scale: spread)
                    let a = s.indices.max { s[$0] < s[$1] }!  // the top item: π_a closest to 1
                    let pi = StableMath.softmax(s)
                    var core = [Double](repeating: 0, count: n)
                    TopKCorrection.accumulate(of: a, softmax: pi, k: k, scale: -1.1, into: &core)
                    var reference = [Double](repeating: 0, count: n)
                    let others = s.indices.filter { $0 != a }.map { s[$0] }
                    let log1mPi = StableMath.logSumExp(others) - StableMath.logSumExp(s)
                    let c = -1.1 * Double(k) * exp(Double(k - 1) * log1mPi)
                    for j in 0..<n { reference[j] = -c * pi[j] }
                    reference[a] = c * exp(log1mPi)
                    for shardCount in 1...4 {
                        let row = SplitRow(s, shardCount: shardCount)
                        let excluded = n > 2 ? [(a + 1) % n, a] : [a]
                        let partition = row.partition(excluding: excluded)
                        var g = row.zeroGradients()
                        for i in row.shards.indices {
                            try ShardedTopKCorrection.accumulateShardGradient(
                                chosen: a, partition: partition, excluded: excluded,
                                excludedScores: excluded.map { s[$0] }, k: k, scores: row.parts[i],
                                shard: row.shards[i], scale: -1.1, into: &g[i])
                        }
                        let label = "N=\(n) K=\(k) spread=\(spread) S=\(shardCount) 1−π_a=\(exp(log1mPi))"
                        XCTAssertLessThanOrEqual(relativeError(Array(g.joined()), reference), 1e-9, label)
                        if exp(log1mPi) >= 1e-6 {
                            XCTAssertLessThanOrEqual(relativeError(Array(g.joined()), core), 1e-9, "\(label) vs core")
                            withCore += 1
                        } else {
                            peaked += 1
                        }
                    }
                }
            }
        }
        XCTAssertGreaterThan(withCore, 60)
        XCTAssertGreaterThan(peaked, 10)
    }

    func testTopKCorrectionNeedsTheChosenScore() throws {
        let shard = try ItemShard(itemCount: 3, shardCount: 1, index: 0)
        var g = [0.0, 0, 0]
        XCTAssertThrowsError(try ShardedTopKCorrection.accumulateShardGradient(
            chosen: 1, partition: LogPartition(restMax: 0, restSum: 1), excluded: [2], excludedScores: [0.5], k: 2,
            scores: [0, 1, 0.5], shard: shard, scale: 1, into: &g))
    }

    func testDistillationMatchesFullRow() throws {
        for n in [3, 20, 77] {
            let s = testScores(n, seed: n, scale: 2)
            var st = RandomStream(RandomKey(seed: 2, purpose: .candidateSampling, query: n))
            let candidates = GumbelTopK.sample(scores: s, k: 5, stream: &st)
            var target = candidates.indices.map { Double($0 + 1) }
            let total = target.reduce(0, +)
            target = target.map { $0 / total }
            var expected = [Double](repeating: 0, count: n)
            let jFull = Distillation.accumulate(scores: s, candidates: candidates, target: target, scale: 0.5, into: &expected)
            for shardCount in 1...4 {
                let row = SplitRow(s, shardCount: shardCount)
                var g = row.zeroGradients()
                var j = 0.0
                for i in row.shards.indices {
                    j = try ShardedDistillation.accumulateShardGradient(
                        candidates: candidates, candidateScores: candidates.map { s[$0] }, target: target,
                        shard: row.shards[i], scale: 0.5, into: &g[i])
                }
                // Same operations on the same K scores: bitwise.
                XCTAssertEqual(Array(g.joined()), expected, "N=\(n) S=\(shardCount)")
                XCTAssertEqual(j, jFull)
            }
        }
    }

    func testLogPartitionMatchesFullRow() {
        for n in [1, 6, 33] {
            let s = testScores(n, seed: 90 + n, scale: 4)
            for shardCount in 1...4 {
                let row = SplitRow(s, shardCount: shardCount)
                let p = row.partition()
                XCTAssertEqual(p.maximum(excludedScores: []), StableMath.maximum(s))
                XCTAssertEqual(p.logTotal(excludedScores: []), StableMath.logSumExp(s), accuracy: 1e-12)
                let excluded = n > 1 ? [0, n - 1] : [0]
                let q = row.partition(excluding: excluded)
                XCTAssertEqual(q.logTotal(excludedScores: excluded.map { s[$0] }), StableMath.logSumExp(s), accuracy: 1e-12)
            }
        }
    }
}
