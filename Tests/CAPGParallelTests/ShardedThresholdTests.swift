import CAPGCore
@testable import CAPGParallel
import XCTest

final class ShardedThresholdTests: XCTestCase {
    struct Outcome {
        var gradients: [[Double]]
        var logP: [[Double]]
        var solutions: [ThresholdSolution]
    }

    /// The whole sharded CA-PG/threshold protocol for a chunk of rows (same N) with the
    /// reductions done in-process: partition (max, sum), driver with summed moments, optional
    /// ψ rescue (max, sum), local gradients concatenated.
    func sharded(rows: [[Double]], k: Int, shardCount: Int, chosen: [[(item: Int, scale: Double)]],
                 hints: [Double?]?) throws -> Outcome {
        let split = rows.map { SplitRow($0, shardCount: shardCount) }
        let partitions = split.map { $0.partition() }
        let maxima = partitions.map { $0.maximum(excludedScores: []) }
        let logSumW = zip(partitions, maxima).map { $0.logTotal(excludedScores: []) - $1 }
        var driver = ThresholdDriver(k: k, itemCount: rows[0].count, logSumWeights: logSumW, logHints: hints)
        var rounds = 0
        while !driver.isFinished {
            let points = driver.evaluationPoints
            var reduced = [Double](repeating: 0, count: 2 * rows.count)
            for sIdx in 0..<shardCount {
                let local: [ThresholdMoments] = try rows.indices.map { q in
                    guard let tau = points[q] else { return .zero }
                    return try ShardedThresholdInclusion.localMoments(
                        scores: split[q].parts[sIdx], shard: split[q].shards[sIdx], shift: maxima[q], logT: tau)
                }
                for (i, v) in ThresholdMoments.pack(local).enumerated() { reduced[i] += v }
            }
            try driver.step(ThresholdMoments.unpack(reduced))
            rounds += 1
            XCTAssertLessThanOrEqual(rounds, 101)
        }
        let solutions = driver.solutions.map { $0! }
        var out = Outcome(gradients: [], logP: [], solutions: solutions)
        for q in rows.indices {
            let row = split[q], sol = solutions[q], m = maxima[q]
            var psi: PsiNormalization? = nil
            if sol.needsPsiRescue {
                let shift = try zip(row.parts, row.shards).map {
                    try ShardedThresholdInclusion.localLogPsiMax(scores: $0, shard: $1, shift: m, logT: sol.logT)
                }.reduce(-Double.infinity) { Swift.max($0, $1) }
                let sum = try zip(row.parts, row.shards).map {
                    try ShardedThresholdInclusion.localPsiSum(scores: $0, shard: $1, shift: m, logT: sol.logT, logShift: shift)
                }.reduce(0, +)
                psi = PsiNormalization(logShift: shift, sum: sum)
            }
            var g = row.zeroGradients()
            let withScores = chosen[q].map { (item: $0.item, score: rows[q][$0.item], scale: $0.scale) }
            var logP: [Double] = []
            for sIdx in row.shards.indices {
                logP = try ShardedThresholdInclusion.accumulateShardGradient(
                    chosen: withScores, scores: row.parts[sIdx], shard: row.shards[sIdx], shift: m, solution: sol,
                    psi: psi, into: &g[sIdx])
            }
            out.gradients.append(Array(g.joined()))
            out.logP.append(logP)
        }
        return out
    }

    func full(_ s: [Double], k: Int, chosen: [(item: Int, scale: Double)]) -> ([Double], [Double]) {
        var g = [Double](repeating: 0, count: s.count)
        let lp = ThresholdInclusion().accumulateLogProbabilityGradients(of: chosen, scores: s, k: k, into: &g)
        return (g, lp)
    }

    func assertMatches(_ rows: [[Double]], k: Int, chosen: [[(item: Int, scale: Double)]], hints: [Double?]?,
                       _ label: String, file: StaticString = #filePath, line: UInt = #line) throws {
        for shardCount in 1...4 {
            let got = try sharded(rows: rows, k: k, shardCount: shardCount, chosen: chosen, hints: hints)
            for q in rows.indices {
                let (g, lp) = full(rows[q], k: k, chosen: chosen[q])
                let err = relativeError(got.gradients[q], g)
                XCTAssertLessThanOrEqual(err, 1e-9, "\(label) q=\(q) S=\(shardCount)", file: file, line: line)
                XCTAssert(got.solutions[q].converged, "\(label) q=\(q)", file: file, line: line)
                for (a, b) in zip(got.logP[q], lp) {
                    XCTAssertLessThanOrEqual(Swift.abs(a - b), 1e-9 * Swift.max(1, Swift.abs(b)), "\(label) log P",
                                             file: file, line: line)
                }
            }
        }
    }

    func testShardedGradientMatchesFullRow() throws {
        var checked = 0
        for n in [2, 5, 17, 64, 300] {
            for k in [1, 3, 10] where k < n {
                for spread in [0.3, 2.0, 8.0] {
                    let seed = n * 100 + k * 10 + Int(spread * 10)
                    let s = testScores(n, seed: seed, scale: spread)
                    let chosen = [(item: (seed * 7) % n, scale: 1.3), (item: (seed * 3 + 1) % n, scale: -0.4)]
                    try assertMatches([s], k: k, chosen: [chosen], hints: nil, "N=\(n) K=\(k) spread=\(spread)")
                    checked += 1
                }
            }
        }
        XCTAssertGreaterThan(checked, 30)
    }

    /// A chunk of queries in one driver, with the Gumbel K-th arrival time as the hint (the
    /// trainer's case): queries converge after different numbers of rounds.
    func testChunkWithGumbelHints() throws {
        let n = 120, k = 6
        let rows = (0..<5).map { testScores(n, seed: 40 + $0, scale: [0.5, 1, 3, 6, 12][$0]) }
        var hints: [Double?] = []
        var chosen: [[(item: Int, scale: Double)]] = []
        for (q, s) in rows.enumerated() {
            var st = RandomStream(RandomKey(seed: 3, purpose: .candidateSampling, query: q))
            let (items, vK) = GumbelTopK.sampleWithKey(scores: s, k: k, stream: &st)
            hints.append(StableMath.maximum(s) - vK)
            chosen.append([(item: items[q % k], scale: 1)])
        }
        hints[2] = nil
        try assertMatches(rows, k: k, chosen: chosen, hints: hints, "chunk")
        let got = try sharded(rows: rows, k: k, shardCount: 3, chosen: chosen, hints: hints)
        XCTAssert(got.solutions.allSatisfy { $0.iterations <= 12 }, "\(got.solutions.map(\.iterations))")
    }

    func testChosenItemFarAboveTheRest() throws {
        for gap in [5.0, 40.0, 300.0, 800.0, 2000.0] {
            for (n, k) in [(9, 1), (9, 3), (50, 4), (4, 3)] {
                var s = testScores(n, seed: Int(gap) + n, scale: 1)
                let a = n / 2
                s[a] = s.max()! + gap
                try assertMatches([s], k: k, chosen: [[(item: a, scale: 2), (item: (a + 1) % n, scale: 1)]], hints: nil,
                                  "gap=\(gap) N=\(n) K=\(k)")
            }
        }
    }

    /// Every ψ underflows (K = 1, the top item 2000 above a crowd): the rescue phases give
    /// the log-domain normalizer of the full-row code.
    func testPsiRescue() throws {
        let s: [Double] = [0, -2000, -2000.5, -1999, -2003, -2001]
        let got = try sharded(rows: [s], k: 1, shardCount: 2, chosen: [[(item: 3, scale: 1)]], hints: nil)
        XCTAssert(got.solutions[0].needsPsiRescue)
        try assertMatches([s], k: 1, chosen: [[(item: 3, scale: 1), (item: 0, scale: 1)]], hints: nil, "rescue")
        let (g, _) = full(s, k: 1, chosen: [(item: 3, scale: 1)])
        XCTAssertGreaterThan(g.map(Swift.abs).max()!, 0.1)
    }

    func testKAtLeastNIsTrivial() throws {
        let s = testScores(4, seed: 1)
        let got = try sharded(rows: [s], k: 4, shardCount: 2, chosen: [[(item: 1, scale: 1)]], hints: nil)
        XCTAssert(got.solutions[0].isTrivial)
        XCTAssertEqual(got.gradients[0], [0, 0, 0, 0])
        XCTAssertEqual(got.logP[0], [0])
    }

    func testDriverRejectsWrongPayload() {
        var driver = ThresholdDriver(k: 2, itemCount: 10, logSumWeights: [1, 2])
        XCTAssertThrowsError(try driver.step([.zero]))
        XCTAssertThrowsError(try ThresholdMoments.unpack([1, 2, 3]))
    }
}
