import CAPGCore
import Foundation
import XCTest

/// The metrics of `capg diagnose`: cosine to a reference and the vanishing-credit test
/// (`GradientVariance`). Fixed seeds: every draw is keyed, so the numbers are reproducible.
final class GradientDiagnosticsTests: XCTestCase {
    func testCosineOfAVectorWithItselfIsOne() {
        let g = randomScores(9, seed: 3)
        XCTAssertEqual(GradientVariance.cosine(g, g), 1, accuracy: 1e-15)
        XCTAssertEqual(GradientVariance.cosine(g, g.map { -2 * $0 }), -1, accuracy: 1e-15)
        XCTAssertEqual(GradientVariance.cosine(g, [Double](repeating: 0, count: 9)), 0)
    }

    /// Hand-built cases of `isVanishing`: ‖ĝ‖ ≤ τ|r| vanishes, a larger norm does not, an
    /// unrewarded draw has no credit to vanish.
    func testVanishingTestOnHandBuiltGradients() {
        XCTAssertEqual(GradientVariance.isVanishing(gradient: [3e-4, -4e-4], meanReward: 1, threshold: 1e-3), true)   // ‖g‖ = 5e-4
        XCTAssertEqual(GradientVariance.isVanishing(gradient: [3e-4, -4e-4], meanReward: 0.4, threshold: 1e-3), false) // 5e-4 > 4e-4
        XCTAssertEqual(GradientVariance.isVanishing(gradient: [0.3, 0.4], meanReward: 1), false)
        XCTAssertNil(GradientVariance.isVanishing(gradient: [0, 0], meanReward: 0))
    }

    /// One item far above the others (s_0 = 12, K = 2 of N = 5) is surely in S and the
    /// argmax LSR always picks it (q_0 = 1): CA-PG's ∇ log P(0 ∈ S) ≈ 0 at every draw
    /// (vanishing fraction 1) while V-PG's ∇ log π(σ) keeps the second slot's O(1) term
    /// (fraction 0). Noise-free rewards, so every draw is rewarded.
    func testCreditVanishesForASurelyIncludedItem() throws {
        let q = TableQuery(q: [1, 0.5, 0.5, 0.5, 0.5], l: [1, 0.5, 0.5, 0.5, 0.5])
        let s: [Double] = [12, 0, 0, 0, 0]
        let sampler = RolloutSampler(k: 2, lsr: LateStageRanker(temperature: 0), reward: .expected)
        let exact = ExactGradient.compute(scores: s, query: q, k: 2, lsr: sampler.lsr).gradient
        func measure(_ kind: EstimatorKind, _ inclusion: InclusionModelKind = .threshold) throws -> GradientMoments {
            let est = try PolicyGradientEstimator(kind: kind, inclusion: inclusion, sampler: sampler)
            return GradientVariance.measure(estimator: est, scores: s, query: q, queryID: 0, seed: 9, draws: 50,
                                            reference: exact, user: [1], context: [1], itemEmbeddings: [Float](repeating: 0, count: 5),
                                            embeddingDim: 1)
        }
        for inclusion in [InclusionModelKind.exact, .prefix, .threshold] {
            let m = try measure(.capg, inclusion)
            XCTAssertEqual(m.rewardedDraws, 50)
            XCTAssertEqual(m.vanishingFraction, 1, "capg \(inclusion)")
            XCTAssertEqual(m.relativeNorms.count, 50)
            XCTAssertLessThan(m.relativeNorms.max()!, 1e-3)
        }
        let v = try measure(.vpg)
        XCTAssertEqual(v.rewardedDraws, 50)
        XCTAssertEqual(v.vanishingFraction, 0)
    }

    /// An unbiased estimator's mean converges to the exact gradient: V-PG (unbiased; a
    /// leave-one-out baseline over 8 samples per draw), and CA-PG with exact inclusion under a
    /// uniform LSR (unbiased there), reach cosine ≥ 0.99 to the enumerated gradient with 4000
    /// keyed draws at N = 5, K = 2.
    func testUnbiasedEstimatorsReachCosineOneToTheExactGradient() throws {
        let n = 5
        let q = TableQuery(q: randomUnit(n, seed: 21), l: [Double](repeating: 0.2, count: n))
        let s = randomScores(n, seed: 22)
        let sampler = RolloutSampler(k: 2, lsr: LateStageRanker(temperature: 1), reward: .expected)
        let exact = ExactGradient.compute(scores: s, query: q, k: 2, lsr: sampler.lsr).gradient
        for (kind, inclusion) in [(EstimatorKind.vpg, InclusionModelKind.threshold), (.capg, .exact)] {
            let est = try PolicyGradientEstimator(kind: kind, inclusion: inclusion, baseline: kind == .vpg ? .loo : .none,
                                                  samples: kind == .vpg ? 8 : 1, sampler: sampler)
            let m = GradientVariance.measure(estimator: est, scores: s, query: q, queryID: 0, seed: 5, draws: 4000,
                                             reference: exact, user: [1], context: [1],
                                             itemEmbeddings: [Float](repeating: 0, count: n), embeddingDim: 1)
            XCTAssertGreaterThan(m.cosineToReference, 0.99, "\(kind)")
            XCTAssertEqual(m.cosineToReference, GradientVariance.cosine(m.mean, exact), accuracy: 1e-15)
        }
    }
}
