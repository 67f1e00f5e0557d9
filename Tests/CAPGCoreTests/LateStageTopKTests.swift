import XCTest

@testable import CAPGCore

/// The batched, bound-based LSR top-K of synthetic queries (the trainer's start-up: oracle
/// and favourite of every evaluation query) equals the plain one, which scores every item:
/// same items in the same order, hence bitwise the same oracle value and favourite.
final class LateStageTopKTests: XCTestCase {
    func testBatchedTopKEqualsPlainTopK() {
        // Aligned, misaligned, reward-blind and noiseless LSRs; K from 1 to N; more queries
        // than one GEMM chunk and more items than one tile.
        let cases: [(items: Int, dx: Int, alignment: Double, noise: Double, k: Int, queries: Int)] = [
            (5000, 8, 1, 0.05, 10, 70), (5000, 8, 1, 0.05, 1, 3), (3000, 4, 1, 0, 50, 5),
            (3000, 4, -1, 0.05, 20, 5), (500, 3, 0, 0.05, 5, 4), (40, 3, 1, 0.5, 40, 3), (40, 3, 1, 2, 7, 3),
        ]
        for (n, dx, alignment, noise, k, count) in cases {
            var c = SyntheticConfig()
            c.items = n; c.contextDim = dx; c.lsrAlignment = alignment; c.lsrNoise = noise; c.seed = 7
            let env = SyntheticEnvironment(config: c)
            let queries = (0..<count).map { env.query(id: $0, evaluation: true) }
            let fast = LateStageTopK.of(queries: queries, k: k)
            let lsr = LateStageRanker(temperature: 0)
            let evaluator = PolicyEvaluator(k: k, lsr: lsr, samples: 4, seed: 1)
            for (i, q) in queries.enumerated() {
                let label = "N=\(n) α=\(alignment) σ=\(noise) K=\(k) query \(i)"
                XCTAssertEqual(fast[i], LateStageTopK.plain(query: q, k: k), label)
                XCTAssertEqual(fast[i].first, lsr.favourite(query: q), label)
                XCTAssertEqual(evaluator.oracle(query: q, topK: fast[i]), evaluator.oracle(query: q), label)
            }
        }
    }

    /// An item shard's environment does not hold every item: the batched path declines.
    func testShardEnvironmentFallsBack() {
        var c = SyntheticConfig()
        c.items = 100; c.contextDim = 3
        let shard = SyntheticEnvironment(config: c, storedItems: 0..<50)
        XCTAssertNil(shard.lateStageTopK(queries: [shard.query(id: 0)], k: 5))
        let q = shard.query(id: 0)
        XCTAssertEqual(LateStageTopK.of(queries: [q], k: 5)[0], LateStageTopK.plain(query: q, k: 5))
    }
}
