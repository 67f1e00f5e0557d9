import CAPGCore
@testable import CAPGParallel
import XCTest

final class ShardedGumbelTopKTests: XCTestCase {
    /// Runs the sharded sampler (local phase on every shard, in-process gather, merge) and
    /// the full-row sampler on the same stream; asserts bitwise equal output and stream state.
    func check(_ s: [Double], k: Int, shardCount: Int, stream: RandomStream, packed: Bool, _ label: String) {
        let row = SplitRow(s, shardCount: shardCount)
        var full = stream
        let expected = GumbelTopK.sampleWithKey(scores: s, k: k, stream: &full)
        var lists: [[ShardCandidate]] = []
        for (part, shard) in zip(row.parts, row.shards) {
            var st = stream
            var local = try! ShardedGumbelTopK.localTopK(scores: part, shard: shard, k: k, stream: &st)
            XCTAssertEqual(st.wordPosition, full.wordPosition, label)
            if packed { local = try! ShardCandidate.unpack(ShardCandidate.pack(local, k: k)) }
            lists.append(local)
        }
        let merged = ShardedGumbelTopK.merge(lists, k: k)
        XCTAssertEqual(merged.items, expected.items, label)
        XCTAssertEqual(merged.kthKey.bitPattern, expected.kthKey.bitPattern, "\(label): v_K \(merged.kthKey) vs \(expected.kthKey)")
        for c in merged.candidates { XCTAssertEqual(c.score.bitPattern, s[c.item].bitPattern, label) }
    }

    func testMergedSampleEqualsFullRowBitwise() {
        var cases = 0
        for trial in 0..<240 {
            var pick = RandomStream(RandomKey(seed: 77, purpose: .variance, query: trial))
            let n = [0, 1, 2, 3, 5, 7, 11, 13, 30, 64, 257, 600][pick.index(below: 12)]
            let k = [0, 1, 2, 3, 4, 5, 8, 12, 40][pick.index(below: 9)]
            var s = testScores(n, seed: 1000 + trial, scale: [0.1, 1, 5, 40][trial % 4])
            switch trial % 6 {
            case 1:  // coarse grid: many equal scores
                s = s.map { ($0 * 2).rounded() / 2 }
            case 2:  // huge equal scores: the noise is absorbed, so the keys tie exactly
                for i in s.indices where i % 3 != 0 { s[i] = 1e20 }
            case 3:  // −∞ items: tied keys of −∞, selected when N < K·S or N ≤ K
                for i in s.indices where i % 2 == 1 { s[i] = -.infinity }
            default: break
            }
            var stream = RandomStream(RandomKey(seed: 5, purpose: .candidateSampling, step: trial, query: 3))
            // Also streams not at a block boundary (the scalar path) and further along.
            stream.advance(words: [0, 1, 2, 6, 4096][trial % 5])
            for shardCount in 1...4 {
                check(s, k: k, shardCount: shardCount, stream: stream, packed: trial % 2 == 0,
                      "trial \(trial) N=\(n) K=\(k) S=\(shardCount)")
                cases += 1
            }
        }
        XCTAssertEqual(cases, 960)
    }

    func testMoreShardsThanItems() {
        let s = testScores(3, seed: 9)
        let stream = RandomStream(RandomKey(seed: 1, purpose: .candidateSampling))
        for k in 1...5 { check(s, k: k, shardCount: 4, stream: stream, packed: true, "N=3 S=4 K=\(k)") }
        let row = SplitRow(s, shardCount: 4)
        XCTAssertEqual(row.shards.map(\.count).reduce(0, +), 3)
    }

    func testPackRejectsBadPayload() throws {
        XCTAssertThrowsError(try ShardCandidate.unpack([1, 2]))
        var st = RandomStream(RandomKey(seed: 1, purpose: .candidateSampling))
        let shard = try ItemShard(itemCount: 5, shardCount: 1, index: 0)
        do {
            _ = try ShardedGumbelTopK.localTopK(scores: [1, 2], shard: shard, k: 1, stream: &st)
            XCTFail("a 2-score row for a 5-item shard must throw")
        } catch {
            XCTAssertEqual(error, .scoreCountMismatch(expected: 5, got: 2))
        }
    }
}
