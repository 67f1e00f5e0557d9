import CVectorMath
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
            (20_000, 16, 1, 0.05, 50, 3),
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

    /// The first test's kernel: both variants return the items whose reassociated bound
    /// reaches the cut, in increasing order, for any length (tails of 1…7 items) and sign.
    func testCandidateKernelMatchesReference() {
        var rng = SplitMix64(seed: 5)
        func uniform() -> Double { Double(rng.next() >> 11) * 0x1p-53 }
        for n in [0, 1, 7, 8, 9, 100, 2048] {
            let z = (0..<n).map { _ in Float(uniform() * 8 - 4) }
            let offset = (0..<n).map { _ in uniform() * 6 - 3 }
            let spread = (0..<n).map { _ in uniform() * 1e-5 }
            for sign in [1.0, -1.0] {
                for cut in [-Double.infinity, -1, 0, 2.5, Double.infinity] {
                    let xn = 3.5
                    let expected = (0..<n).filter { sign * Double(z[$0]) + offset[$0] + spread[$0] * xn >= cut }.map { Int32($0) }
                    for generic in [false, true] {
                        var out = [Int32](repeating: -1, count: Swift.max(n, 1))
                        let count = out.withUnsafeMutableBufferPointer { o in
                            generic ? capg_lsr_candidates_generic(z, offset, spread, n, sign, xn, cut, o.baseAddress!)
                                : capg_lsr_candidates(z, offset, spread, n, sign, xn, cut, o.baseAddress!)
                        }
                        XCTAssertEqual(Array(out[0..<count]), expected, "n=\(n) sign=\(sign) cut=\(cut) generic=\(generic)")
                    }
                }
            }
        }
    }

    /// The fused kernel: its logits are a Float dot product of x with the item's column of
    /// the transposed latents (within a few ulps of a Double one), and its list is the plain
    /// kernel's on those logits, for both variants and tails of every length.
    func testDotKernelMatchesReference() {
        var rng = SplitMix64(seed: 8)
        func uniform() -> Double { Double(rng.next() >> 11) * 0x1p-53 }
        let dx = 16, ld = 2100
        let vt = (0..<(dx * ld)).map { _ in Float(uniform() * 2 - 1) }
        let x = (0..<dx).map { _ in Float(uniform() * 4 - 2) }
        let offset = (0..<ld).map { _ in uniform() * 6 - 3 }, spread = (0..<ld).map { _ in uniform() * 1e-5 }
        for n in [0, 1, 8, 15, 16, 17, 2048] {
            for generic in [false, true] {
                var z = [Float](repeating: .nan, count: Swift.max(n, 1))
                var out = [Int32](repeating: -1, count: Swift.max(n, 1))
                let count = generic
                    ? capg_lsr_candidates_dot_generic(vt, ld, dx, x, offset, spread, n, 1, 2.5, 0.5, &z, &out)
                    : capg_lsr_candidates_dot(vt, ld, dx, x, offset, spread, n, 1, 2.5, 0.5, &z, &out)
                for i in 0..<n {
                    let exact = (0..<dx).reduce(0.0) { $0 + Double(x[$1]) * Double(vt[$1 * ld + i]) }
                    let scale = (0..<dx).reduce(0.0) { $0 + Swift.abs(Double(x[$1]) * Double(vt[$1 * ld + i])) }
                    XCTAssertEqual(Double(z[i]), exact, accuracy: Double(dx + 2) * 0x1p-24 * scale, "n=\(n) i=\(i)")
                }
                let expected = (0..<n).filter { Double(z[$0]) + offset[$0] + spread[$0] * 2.5 >= 0.5 }.map { Int32($0) }
                XCTAssertEqual(Array(out[0..<count]), expected, "n=\(n) generic=\(generic)")
            }
        }
    }

    /// `normalMagnitudeBound` bounds |ε| for every leading-zero count of the first word,
    /// at the worst case of the other words (the smallest u₁ of that count, |cos| = 1), and
    /// for random-access normals of a real key.
    func testNormalMagnitudeBoundHolds() {
        for l in 0...32 {
            let w0: UInt32 = l == 32 ? 0 : 1 << (31 - l)
            let worst = RandomStream.boxMuller(w0, 0, 0, 0)
            XCTAssertLessThanOrEqual(Swift.abs(worst), RandomStream.normalMagnitudeBound(leadingZeros: l), "L=\(l)")
        }
        let key = RandomKey(seed: 3, purpose: .lateStageNoise, query: 9, sample: 1)
        var violations = 0
        for i in 0..<200_000 where Swift.abs(RandomStream.normal(key: key, index: i)) > RandomStream.normalMagnitudeBound(key: key, index: i) {
            violations += 1
        }
        XCTAssertEqual(violations, 0)
        XCTAssertEqual(RandomStream.normalMagnitudeBound(leadingZeros: 40), SyntheticEnvironment.noiseBound, accuracy: 1e-12)
    }

    /// The synthetic LSR's pruned argmax (candidates bounded below the best skip their
    /// normal) is the full loop's position for aligned, misaligned, blind, noiseless, very
    /// noisy and negative-σ LSRs, on candidate lists with repeats (ties: the first wins),
    /// stored and regenerated items, and it does rule candidates out.
    func testPrunedArgmaxEqualsFullLoop() {
        struct Full: RankingQuery {  // the protocol's default argmax over the same scores
            let base: SyntheticQuery
            var itemCount: Int { base.itemCount }
            func lateStageScore(of item: Int) -> Double { base.lateStageScore(of: item) }
            func expectedReward(of item: Int) -> Double { base.expectedReward(of: item) }
        }
        var g = SplitMix64(seed: 31)
        var skippable = 0
        for (alignment, noise) in [(1.0, 0.05), (1, 0), (-1, 0.05), (0, 0.05), (1, 2), (1, -0.05), (0.5, 1e-9), (1, 0.3)] {
            for shard in [false, true] {
                var c = SyntheticConfig()
                c.items = 400; c.contextDim = 5; c.lsrAlignment = alignment; c.lsrNoise = noise; c.seed = 3
                let env = SyntheticEnvironment(config: c, storedItems: shard ? 100..<300 : nil)
                for id in 0..<60 {
                    let q = env.query(id: id, evaluation: id % 2 == 0)
                    let count = 1 + Int(g.next() % 40)
                    var candidates = (0..<count).map { _ in Int(g.next() % 400) }
                    if count > 3 { candidates[count - 1] = candidates[count / 2] }           // a repeat
                    let label = "α=\(alignment) σ=\(noise) shard \(shard) query \(id)"
                    let expected = Full(base: q).lateStageArgmax(of: candidates)
                    XCTAssertEqual(q.lateStageArgmax(of: candidates), expected, label)
                    XCTAssertEqual(LateStageRanker(temperature: 0).argmax(candidates: candidates, query: q), expected, label)
                    let best = q.lateStageScore(of: candidates[expected])
                    for a in candidates where noise != 0 {
                        let b = RandomStream.normalMagnitudeBound(key: q.lateStageNoiseKey, index: a)
                        if alignment * q.expectedReward(of: a) + Swift.abs(noise) * b < best { skippable += 1 }
                    }
                }
            }
        }
        XCTAssertGreaterThan(skippable, 1000)
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
