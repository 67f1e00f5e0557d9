import Foundation
import XCTest
@testable import CAPGCore

final class LetorMathTests: XCTestCase {
    func dataset() -> LetorDataset {
        // Two queries: 3 and 2 documents, F = 2.
        LetorDataset(featureCount: 2, qids: ["a", "b"], queryOrdinals: [4, 9], documentOffsets: [0, 3, 5],
                     labels: [4, 2, 0, 1, 0], features: [1, 0, 0, 1, 2, 2, -1, 0.5, 3, 3])
    }

    func testLetorQueryGainsAndLateStageScores() throws {
        let env = try LetorEnvironment(dataset: dataset(), config: LetorEnvironmentConfig(maxRelevance: 4, lateStage: .relevance(noise: 0)))
        let q = env.query(at: 0)
        XCTAssertEqual(q.itemCount, 3)
        XCTAssertEqual(q.expectedReward(of: 0), 1)
        XCTAssertEqual(q.expectedReward(of: 1), 3.0 / 15.0, accuracy: 1e-15)
        XCTAssertEqual(q.expectedReward(of: 2), 0)
        XCTAssertEqual((0..<3).map(q.lateStageScore), [4, 2, 0])
        XCTAssertEqual(env.query(at: 1).expectedReward(of: 0), 1.0 / 15.0, accuracy: 1e-15)

        // Noise is keyed by (seed, query ordinal, document): independent of the shard layout.
        let noisy = try LetorEnvironment(dataset: dataset(), config: LetorEnvironmentConfig(lateStage: .relevance(noise: 0.5), seed: 3))
        let n1 = noisy.query(at: 1)
        let key = RandomKey(seed: 3, purpose: .lateStageNoise, query: 9, sample: 0)
        XCTAssertEqual(n1.lateStageScore(of: 1), 0 + 0.5 * RandomStream.normal(key: key, index: 1), accuracy: 1e-15)
        XCTAssertNotEqual(noisy.query(at: 1, evaluation: true).lateStageScore(of: 1), n1.lateStageScore(of: 1))

        // A user-supplied linear LSR: ℓ_d = ⟨w, φ_d⟩ + b.
        let lin = try LetorEnvironment(dataset: dataset(), config: LetorEnvironmentConfig(lateStage: .linear(weights: [2, -1], bias: 0.5, noise: 0)))
        XCTAssertEqual((0..<3).map(lin.query(at: 0).lateStageScore), [2.5, -0.5, 2.5])

        XCTAssertThrowsError(try LetorEnvironment(dataset: dataset(), config: LetorEnvironmentConfig(maxRelevance: 3))) {
            XCTAssertTrue("\($0)".contains("label 4 above the configured maximum 3"))
        }
        XCTAssertThrowsError(try LetorEnvironment(dataset: dataset(), config: LetorEnvironmentConfig(lateStage: .linear(weights: [1], bias: 0, noise: 0))))
    }

    func testNDCGOnHandComputedExample() {
        let labels: [Float] = [3, 2, 0, 1]
        let scores: [Double] = [0.1, 0.4, 0.3, 0.2]
        // Ranking 1,2,3,0 → labels 2,0,1,3: DCG@4 = 3/1 + 0 + 1/2 + 7/log2(5); ideal 3,2,1,0: 7 + 3/log2(3) + 1/2.
        let dcg4 = 3 + 0.5 + 7 / log2(5.0), idcg4 = 7 + 3 / log2(3.0) + 0.5
        XCTAssertEqual(RankingMetrics.ndcg(scores: scores, labels: labels, k: 4)!, dcg4 / idcg4, accuracy: 1e-12)
        XCTAssertEqual(RankingMetrics.ndcg(scores: scores, labels: labels, k: 10)!, dcg4 / idcg4, accuracy: 1e-12)
        XCTAssertEqual(RankingMetrics.ndcg(scores: scores, labels: labels, k: 2)!, 3 / (7 + 3 / log2(3.0)), accuracy: 1e-12)
        XCTAssertEqual(RankingMetrics.ndcg(scores: scores, labels: labels, k: 1)!, 3.0 / 7.0, accuracy: 1e-12)
        XCTAssertEqual(RankingMetrics.ndcg(scores: [4.0, 3, 1, 2], labels: labels, k: 3)!, 1, accuracy: 1e-12)
        // Ties are broken by document index: constant scores rank in file order.
        XCTAssertEqual(RankingMetrics.ranking(scores: [1.0, 1, 2]), [2, 0, 1])
        XCTAssertEqual(RankingMetrics.ndcg(scores: [0.0, 0, 0, 0], labels: labels, k: 4)!,
                       (7 + 3 / log2(3.0) + 0 + 1 / log2(5.0)) / idcg4, accuracy: 1e-12)
        // All-zero labels: excluded.
        XCTAssertNil(RankingMetrics.ndcg(scores: [1.0, 2], labels: [Float(0), 0], k: 2))
        XCTAssertEqual(RankingMetrics.mostRelevantDocument(labels: [1, 3, 3, 0]), 1)
        XCTAssertNil(RankingMetrics.mostRelevantDocument(labels: [0, 0]))
        XCTAssertEqual(RankingMetrics.bestDocumentRecall(candidates: [0, 3], labels: labels), 1)
        XCTAssertEqual(RankingMetrics.bestDocumentRecall(candidates: [1, 2], labels: labels), 0)
        XCTAssertEqual(RankingMetrics.bestDocumentRecall(candidates: [2], labels: [1, 3, 3]), 1)
        XCTAssertNil(RankingMetrics.bestDocumentRecall(candidates: [0], labels: [0, 0]))
        var sums = RankingMetricSums()
        sums.add(ndcg: 0.5, recall: 1); sums.add(ndcg: nil, recall: nil); sums.add(ndcg: 0.25, recall: 0)
        let both = sums + RankingMetricSums(packed: sums.packed)
        XCTAssertEqual(both.meanNDCG, 0.375); XCTAssertEqual(both.meanRecall, 0.5); XCTAssertEqual(both.excluded, 2)
    }

    /// backward(g) is the gradient of J(θ) = Σ_d g_d s_d(θ); checked by central differences.
    func checkGradient<S: DocumentScorer>(_ scorer: S, documents n: Int, tolerance: Double) {
        let f = scorer.featureCount
        let x = randomScores(n * f, seed: 5).map(Float.init)
        let g = randomScores(n, seed: 6).map(Float.init)
        var p = scorer.initialParameters(seed: 2, initScale: 1)
        for i in p.indices { p[i] += Float(randomScores(1, seed: 100 + i)[0] * 0.1) }
        func objective(_ p: [Float]) -> Double {
            x.withUnsafeBufferPointer { xb in
                zip(scorer.scores(parameters: p, features: xb, documents: n), g).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
            }
        }
        var grad = [Float](repeating: 0, count: scorer.parameterCount)
        var act = [Float](repeating: 0, count: scorer.activationCount(documents: n))
        var s = [Float](repeating: 0, count: n)
        p.withUnsafeBufferPointer { pb in x.withUnsafeBufferPointer { xb in
            s.withUnsafeMutableBufferPointer { sb in act.withUnsafeMutableBufferPointer { ab in
                scorer.forward(parameters: pb, features: xb, documents: n, scores: sb, activations: ab)
                g.withUnsafeBufferPointer { gb in grad.withUnsafeMutableBufferPointer { out in
                    scorer.backward(parameters: pb, features: xb, documents: n, scoreGradient: gb, activations: ab, gradient: out)
                } }
            } }
        } }
        let h: Float = 1e-2
        for i in 0..<scorer.parameterCount {
            var a = p, b = p
            a[i] += h; b[i] -= h
            let fd = (objective(a) - objective(b)) / Double(2 * h)
            XCTAssertEqual(Double(grad[i]), fd, accuracy: tolerance * max(1, abs(fd)), "parameter \(i)")
        }
    }

    func testLinearESRGradientMatchesFiniteDifferences() {
        let esr = LinearESR(featureCount: 6)
        checkGradient(esr, documents: 9, tolerance: 1e-3)
        // Scores are ⟨θ, φ⟩ + b exactly.
        let p: [Float] = [1, 2, 0, 0, 0, -1, 0.5]
        let x: [Float] = [1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 2]
        XCTAssertEqual(x.withUnsafeBufferPointer { esr.scores(parameters: p, features: $0, documents: 2) }, [2.5, -1.5])
        XCTAssertEqual(esr.initialParameters(seed: 1, initScale: 0), [Float](repeating: 0, count: 7))
    }

    func testMLPESRGradientMatchesFiniteDifferences() {
        checkGradient(MLPESR(featureCount: 5, hidden: 4), documents: 7, tolerance: 2e-2)
    }

    func testStandardizerFromShardedMoments() {
        let x: [Float] = [1, 5, 2, 5, 3, 5, 10, 5]  // 4 rows × 2; column 2 constant
        var whole = FeatureMoments(featureCount: 2), a = whole, b = whole
        x.withUnsafeBufferPointer { xb in
            whole.accumulate(xb, rows: 4)
            a.accumulate(UnsafeBufferPointer(rebasing: xb[0..<4]), rows: 2)
            b.accumulate(UnsafeBufferPointer(rebasing: xb[4..<8]), rows: 2)
        }
        XCTAssertEqual(a + b, whole)
        XCTAssertEqual(FeatureMoments(featureCount: 2, packed: whole.packed), whole)
        let st = whole.standardizer()
        var y = x
        st.apply(to: &y, rows: 4)
        let col = (0..<4).map { Double(y[2 * $0]) }
        XCTAssertEqual(col.reduce(0, +) / 4, 0, accuracy: 1e-6)
        XCTAssertEqual(col.map { $0 * $0 }.reduce(0, +) / 4, 1, accuracy: 1e-5)
        XCTAssertEqual((0..<4).map { y[2 * $0 + 1] }, [0, 0, 0, 0])
    }

    func testLBFGSMinimizesRosenbrock() {
        let r = LBFGS(maxIterations: 1000, gradientTolerance: 1e-10).minimize(from: [-1.2, 1]) { v in
            let (a, b) = (v[0], v[1])
            let f = (1 - a) * (1 - a) + 100 * (b - a * a) * (b - a * a)
            return (f, [-2 * (1 - a) - 400 * a * (b - a * a), 200 * (b - a * a)])
        }
        XCTAssertEqual(r.x[0], 1, accuracy: 1e-5)
        XCTAssertEqual(r.x[1], 1, accuracy: 1e-5)
    }
}

/// `--gain linear` and real-valued labels.
final class LabelGainTests: XCTestCase {
    func testLinearGainAndRealLabels() throws {
        let d = LetorDataset(featureCount: 1, qids: ["a"], queryOrdinals: [0], documentOffsets: [0, 3],
                             labels: [2.5, 0, 5], features: [0, 0, 0])
        let lin = try LetorEnvironment(dataset: d, config: LetorEnvironmentConfig(maxRelevance: 5, gain: .linear, lateStage: .relevance(noise: 0)))
        XCTAssertEqual((0..<3).map(lin.query(at: 0).expectedReward), [0.5, 0, 1])
        let exp = try LetorEnvironment(dataset: d, config: LetorEnvironmentConfig(maxRelevance: 5, lateStage: .relevance(noise: 0)))
        XCTAssertEqual(exp.query(at: 0).expectedReward(of: 0), (pow(2, 2.5) - 1) / 31, accuracy: 1e-12)
        // NDCG with linear gain: ranking [0, 2, 1] has DCG 2.5 + 5/log2(3); ideal 5 + 2.5/log2(3).
        let ndcg = RankingMetrics.ndcg(scores: [3.0, 1, 2], labels: [Float(2.5), 0, 5], k: 3, gain: .linear)!
        XCTAssertEqual(ndcg, (2.5 + 5 / log2(3.0)) / (5 + 2.5 / log2(3.0)), accuracy: 1e-12)
        XCTAssertThrowsError(try LetorEnvironment(dataset: d, config: LetorEnvironmentConfig(maxRelevance: 4))) {
            XCTAssertTrue("\($0)".contains("--max-label 5"), "\($0)")
        }
    }

    func testReciprocalRank() {
        XCTAssertEqual(RankingMetrics.reciprocalRank(ranking: [2, 0, 1], labels: [Float(1), 0, 0]), 0.5)
        XCTAssertNil(RankingMetrics.reciprocalRank(ranking: [0, 1], labels: [Float(0), 0]))
    }
}
