import CAPGCore
@testable import CAPGParallel
import Foundation
import XCTest

final class ShardedThresholdTests: XCTestCase {
    struct Outcome {
        var gradients: [[Double]]
        var logP: [[Double]]
        var solutions: [ThresholdSolution]
    }

    /// The whole sharded CA-PG/threshold protocol for a chunk of rows (same N) with the
    /// reductions done in-process: partition (max, sum), driver with summed moments, optional
    /// ψ rescue (max, sum), local gradients concatenated. `linear`: the trainer's path
    /// through `ThresholdShardRow` (hot/cold split per shard, falling back to the exact
    /// kernels where a weight underflows) instead of the exact kernels throughout.
    func sharded(rows: [[Double]], k: Int, shardCount: Int, chosen: [[(item: Int, scale: Double)]],
                 hints: [Double?]?, linear: Bool = false) throws -> Outcome {
        if linear { return try shardedLinear(rows: rows, k: k, shardCount: shardCount, chosen: chosen, hints: hints) }
        let split = rows.map { SplitRow($0, shardCount: shardCount) }
        // The partitions of the chunk through the batch payloads (one max-, one sum-reduce).
        var maxPayload = [Double](repeating: -.infinity, count: rows.count)
        for sIdx in 0..<shardCount {
            let local = try ShardedLogSumExp.localMaxima(rows: split.map { $0.parts[sIdx] }, shard: split[0].shards[sIdx])
            for q in rows.indices { maxPayload[q] = Swift.max(maxPayload[q], local[q]) }
        }
        var sumPayload = [Double](repeating: 0, count: rows.count)
        for sIdx in 0..<shardCount {
            let local = try ShardedLogSumExp.localSums(rows: split.map { $0.parts[sIdx] }, shard: split[0].shards[sIdx],
                                                       shifts: maxPayload)
            for q in rows.indices { sumPayload[q] += local[q] }
        }
        let partitions = rows.indices.map { LogPartition(restMax: maxPayload[$0], restSum: sumPayload[$0]) }
        XCTAssertEqual(partitions, split.map { $0.partition() })
        let maxima = partitions.map { $0.maximum(excludedScores: []) }
        let logSumW = zip(partitions, maxima).map { $0.logTotal(excludedScores: []) - $1 }
        var driver = ThresholdDriver(k: k, itemCount: rows[0].count, logSumWeights: logSumW, logHints: hints)
        var rounds = 0
        while !driver.isFinished {
            let points = driver.evaluationPoints
            var reduced = [Double](repeating: 0, count: ThresholdMoments.packedWidth * rows.count)
            for sIdx in 0..<shardCount {
                let payload = try ShardedThresholdInclusion.localMomentsPayload(
                    rows: split.map { $0.parts[sIdx] }, shard: split[0].shards[sIdx], shifts: maxima, points: points)
                for (i, v) in payload.enumerated() { reduced[i] += v }
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

    /// `sharded(…linear: true)`: as the trainer runs it (`ShardedTrainer.estimateThreshold`).
    func shardedLinear(rows: [[Double]], k: Int, shardCount: Int, chosen: [[(item: Int, scale: Double)]],
                       hints: [Double?]?) throws -> Outcome {
        let split = rows.map { SplitRow($0, shardCount: shardCount) }
        let shards = split[0].shards
        var maxima = [Double](repeating: -.infinity, count: rows.count)
        for sIdx in 0..<shardCount {
            let local = try ShardedLogSumExp.localMaxima(rows: split.map { $0.parts[sIdx] }, shard: shards[sIdx])
            for q in rows.indices { maxima[q] = Swift.max(maxima[q], local[q]) }
        }
        var workspaces = [ThresholdShardWorkspace](repeating: ThresholdShardWorkspace(), count: shardCount)
        var states = try (0..<shardCount).map { sIdx in
            try rows.indices.map { q in
                try ShardedThresholdInclusion.prepareRow(scores: split[q].parts[sIdx], shard: shards[sIdx], shift: maxima[q],
                                                         k: k, logHint: hints?[q] ?? nil, workspace: &workspaces[sIdx])
            }
        }
        let logSumW = rows.indices.map { q in Foundation.log(states.reduce(0) { $0 + $1[q].localSumWeights }) }
        var driver = ThresholdDriver(k: k, itemCount: rows[0].count, logSumWeights: logSumW, logHints: hints)
        var rounds = 0
        while !driver.isFinished {
            let points = driver.evaluationPoints
            var reduced = [Double](repeating: 0, count: ThresholdMoments.packedWidth * rows.count)
            for sIdx in 0..<shardCount {
                let payload = try ShardedThresholdInclusion.localMomentsPayload(
                    rows: &states[sIdx], scores: split.map { $0.parts[sIdx] }, shard: shards[sIdx], points: points,
                    workspace: &workspaces[sIdx])
                for (i, v) in payload.enumerated() { reduced[i] += v }
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
                    chosen: withScores, scores: row.parts[sIdx], row: states[sIdx][q], shard: row.shards[sIdx],
                    solution: sol, psi: psi, workspace: &workspaces[sIdx], into: &g[sIdx])
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

    /// Independent full-row reference: plain bisection on τ to the last ulp (no Newton, no
    /// shards) of the split h (see `ThresholdMoments`), and `ψ_j/Σψ` as a log-domain softmax.
    func oracle(_ s: [Double], k: Int, chosen: [(item: Int, scale: Double)])
        -> (gradient: [Double], logP: [Double], sumPsiOverK: Double)
    {
        let n = s.count
        if k >= n { return ([Double](repeating: 0, count: n), [Double](repeating: 0, count: chosen.count), 1) }
        let m = s.max()!
        let ell = s.map { $0 - m }
        func h(_ tau: Double) -> Double {
            var count = 0.0, rest = 0.0
            for l in ell {
                let x = exp(l + tau)
                if x > log(2.0) { count += 1; rest -= exp(-x) } else { rest -= expm1(-x) }  // see ThresholdMoments
            }
            return (count - Double(k)) + rest
        }
        var lo = log(Double(k)) - StableMath.logSumExp(ell), hi = lo + 1
        while h(hi) < 0 { hi = lo + 2 * (hi - lo) }
        for _ in 0..<400 {
            let mid = 0.5 * (lo + hi)
            if mid <= lo || mid >= hi { break }
            if h(mid) < 0 { lo = mid } else { hi = mid }
        }
        let tau = 0.5 * (lo + hi)
        let logPsi = ell.map { $0 + tau - exp($0 + tau) }
        let logSumPsi = StableMath.logSumExp(logPsi)
        var g = [Double](repeating: 0, count: n)
        var logP: [Double] = []
        for (a, scale) in chosen {
            let phi = ThresholdInclusion.phi(exp(ell[a] + tau))
            for j in 0..<n { g[j] -= scale * phi * exp(logPsi[j] - logSumPsi) }
            g[a] += scale * phi
            logP.append(ThresholdInclusion.logInclusion(logX: ell[a] + tau))
        }
        return (g, logP, exp(logSumPsi) / Double(k))
    }

    /// Sharded (S = 1…4) against the oracle at 1e-9, and against `ThresholdInclusion` at 1e-9
    /// where the latter is well conditioned: its h sums `1 − e^{−x}` unsplit, so its root is
    /// only good to ≈ 1e-16·K/Σψ (noise when every item is saturated, e.g. K = 1 with the top
    /// item far above the rest); there only the oracle is a meaningful reference.
    func assertMatches(_ rows: [[Double]], k: Int, chosen: [[(item: Int, scale: Double)]], hints: [Double?]?,
                       _ label: String, compareWithCore: Bool = true, file: StaticString = #filePath,
                       line: UInt = #line) throws {
        for (shardCount, linear) in (1...4).flatMap({ s in [(s, false), (s, true)] }) {
            let got = try sharded(rows: rows, k: k, shardCount: shardCount, chosen: chosen, hints: hints, linear: linear)
            for q in rows.indices {
                let reference = oracle(rows[q], k: k, chosen: chosen[q])
                var references = [("oracle", reference.gradient, reference.logP)]
                if compareWithCore && reference.sumPsiOverK >= 1e-4 {
                    let (g, lp) = full(rows[q], k: k, chosen: chosen[q])
                    references.append(("ThresholdInclusion", g, lp))
                }
                XCTAssert(got.solutions[q].converged, "\(label) q=\(q)", file: file, line: line)
                XCTAssertLessThanOrEqual(got.solutions[q].iterations, 20, "\(label) q=\(q)", file: file, line: line)
                for (name, g, lp) in references {
                    let err = relativeError(got.gradients[q], g)
                    XCTAssertLessThanOrEqual(err, 1e-9, "\(label) q=\(q) S=\(shardCount) linear=\(linear) vs \(name)",
                                             file: file, line: line)
                    for (a, b) in zip(got.logP[q], lp) {
                        XCTAssertLessThanOrEqual(Swift.abs(a - b), 1e-9 * Swift.max(1, Swift.abs(b)),
                                                 "\(label) log P vs \(name)", file: file, line: line)
                    }
                }
            }
        }
    }

    /// The oracle itself against the full-row code where both are well conditioned.
    func testOracleAgreesWithThresholdInclusion() {
        for (n, k) in [(10, 3), (200, 7)] {
            let s = testScores(n, seed: n + k, scale: 2)
            let chosen = [(item: 1, scale: 1.0), (item: n - 1, scale: 0.5)]
            let reference = oracle(s, k: k, chosen: chosen)
            XCTAssertGreaterThan(reference.sumPsiOverK, 1e-2)
            XCTAssertLessThanOrEqual(relativeError(reference.gradient, full(s, k: k, chosen: chosen).0), 1e-10)
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

    /// Chosen items far above the rest. Up to a gap of ≈ 700 (K = 1: the race is decided by
    /// masses ≈ e^{−gap}, still normal doubles); for K ≥ 2 any gap (the K − 1 other slots are
    /// decided among the rest). Against the full-row code only up to gap 40: beyond, its
    /// linear-domain solver stalls (K ≥ 2: regula falsi from τ ≈ 1e124, 200 iterations, returns
    /// log P = 0 and a zero gradient) or its unsplit h rounds (K = 1); the oracle is the reference.
    func testChosenItemFarAboveTheRest() throws {
        for gap in [5.0, 40.0, 300.0, 690.0, 800.0, 2000.0] {
            for (n, k) in [(9, 1), (9, 3), (50, 4), (4, 3)] where k > 1 || gap < 700 {
                var s = testScores(n, seed: Int(gap) + n, scale: 1)
                let a = n / 2
                s[a] = s.max()! + gap
                try assertMatches([s], k: k, chosen: [[(item: a, scale: 2), (item: (a + 1) % n, scale: 1)]], hints: nil,
                                  "gap=\(gap) N=\(n) K=\(k)", compareWithCore: gap <= 40)
            }
        }
    }

    /// Σψ ≈ 1e-300 (K = 1, the top item 700 above a crowd): the rescue phases form
    /// `ψ_j/Σψ` in the log domain (the oracle's softmax).
    func testPsiRescue() throws {
        let s: [Double] = [0, -700, -700.5, -699, -703, -701]
        let got = try sharded(rows: [s], k: 1, shardCount: 2, chosen: [[(item: 3, scale: 1)]], hints: nil)
        XCTAssert(got.solutions[0].needsPsiRescue, "Σψ = \(got.solutions[0].sumPsi)")
        try assertMatches([s], k: 1, chosen: [[(item: 3, scale: 1), (item: 0, scale: 1)]], hints: nil, "rescue",
                          compareWithCore: false)
        XCTAssertGreaterThan(got.gradients[0].map(Swift.abs).max()!, 0.1)
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
        XCTAssertThrowsError(try ThresholdMoments.unpack([1, 2]))
    }
}

extension ShardedThresholdTests {
    /// Reduction rounds on ordinary rows with the Gumbel K-th arrival time as the start (the
    /// trainer's case): the communication cost the module doc quotes.
    func testRoundsWithGumbelHint() throws {
        var rounds: [Int] = []
        for q in 0..<40 {
            let n = [50, 500, 3000][q % 3], k = [1, 5, 20][q % 3]
            let s = testScores(n, seed: 500 + q, scale: [0.5, 2, 6, 15][q % 4])
            var st = RandomStream(RandomKey(seed: 8, purpose: .candidateSampling, query: q))
            let (items, vK) = GumbelTopK.sampleWithKey(scores: s, k: k, stream: &st)
            let got = try sharded(rows: [s], k: k, shardCount: 3, chosen: [[(item: items[0], scale: 1)]],
                                  hints: [StableMath.maximum(s) - vK])
            rounds.append(got.solutions[0].iterations)
        }
        let mean = Double(rounds.reduce(0, +)) / Double(rounds.count)
        print("threshold rounds with the Gumbel hint: mean \(mean), max \(rounds.max()!)")
        XCTAssertLessThanOrEqual(mean, 6)
        XCTAssertLessThanOrEqual(rounds.max()!, 10)
    }
}

extension ShardedThresholdTests {
    /// The trainer's linear path on ordinary rows: every shard takes the split (few hot
    /// items), a start far below the root makes the rounds re-split, and the result still
    /// matches the exact kernels and the oracle.
    func testLinearRowsSplitAndResplit() throws {
        let n = 3000, k = 20
        let s = testScores(n, seed: 77, scale: 3)
        let shard = try ItemShard(itemCount: n, shardCount: 2, index: 1)
        var workspace = ThresholdShardWorkspace()
        let row = try ShardedThresholdInclusion.prepareRow(scores: Array(s[shard.range]), shard: shard, shift: s.max()!,
                                                           k: k, logHint: nil, workspace: &workspace)
        XCTAssert(row.isLinear)
        XCTAssertLessThan(row.hotItems.count, n / 10)
        let chosen = [[(item: 5, scale: 1.0), (item: 2999, scale: 0.5)]]
        let linear = try sharded(rows: [s], k: k, shardCount: 2, chosen: chosen, hints: nil, linear: true)
        let exact = try sharded(rows: [s], k: k, shardCount: 2, chosen: chosen, hints: nil)
        XCTAssertLessThanOrEqual(relativeError(linear.gradients[0], exact.gradients[0]), 1e-12)
        XCTAssertLessThanOrEqual(Swift.abs(linear.solutions[0].logT - exact.solutions[0].logT), 1e-12)
        try assertMatches([s], k: k, chosen: chosen, hints: nil, "resplit")
    }
}
