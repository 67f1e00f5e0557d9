import XCTest
@testable import CAPGCore

/// The learned LSR (`LinearLateStageModel`): its gradient against finite differences and
/// brute-force enumeration, its start from the fixed LSR, and the alternating schedule.
final class LearnedLateStageTests: XCTestCase {
    let env: SyntheticEnvironment = {
        var c = SyntheticConfig()
        c.items = 12; c.contextDim = 3; c.lsrNoise = 0.3; c.seed = 5
        return SyntheticEnvironment(config: c)
    }()
    let candidates = [7, 2, 9, 4, 0]

    /// Dyadic weights, so `w ± h` below is exact in Float.
    func weights(_ f: Int) -> [Float] { (0..<f).map { Float(($0 * 5) % 7 - 3) / 8 } }

    /// `∇_φ log π₂(a | S)` equals central differences of `log π₂` computed by the fixed-LSR
    /// code path (`LateStageRanker.probabilities`) on the learned view of the query.
    func testLogProbabilityGradientMatchesFiniteDifferences() {
        let q = env.query(id: 3)
        let model = LinearLateStageModel(featureCount: q.lateStageFeatureCount, temperature: 0.7)
        let ranker = LateStageRanker(temperature: 0.7)
        let w = weights(model.featureCount)
        func logP(_ w: [Float], _ pos: Int) -> Double {
            Foundation.log(ranker.probabilities(candidates: candidates, query: LearnedLateStageQuery(base: q, model: model, weights: w))[pos])
        }
        let h: Float = 1.0 / 1024
        for pos in [0, 3] {
            var g = [Double](repeating: 0, count: model.featureCount)
            model.accumulateLogProbabilityGradient(weights: w, query: q, candidates: candidates, chosenPosition: pos,
                                                   scale: 1, into: &g)
            for j in 0..<model.featureCount {
                var a = w, b = w
                a[j] += h; b[j] -= h
                let fd = (logP(a, pos) - logP(b, pos)) / Double(2 * h)
                XCTAssertEqual(g[j], fd, accuracy: 1e-5 * max(1, abs(fd)), "chosen position \(pos), weight \(j)")
            }
        }
    }

    /// The policy gradient is unbiased for the set value: `Σ_a π₂(a|S) q(a) ∇ log π₂(a|S)`
    /// (the estimator's expectation over the LSR's choice, enumerated) equals the finite-
    /// difference gradient of `R(S) = Σ_a π₂(a|S) q(a)`.
    func testExpectedGradientIsTheSetValueGradient() {
        let q = env.query(id: 8)
        let model = LinearLateStageModel(featureCount: q.lateStageFeatureCount, temperature: 0.5)
        let ranker = LateStageRanker(temperature: 0.5)
        let w = weights(model.featureCount)
        let p = ranker.probabilities(candidates: candidates, query: LearnedLateStageQuery(base: q, model: model, weights: w))
        var g = [Double](repeating: 0, count: model.featureCount)
        for (pos, a) in candidates.enumerated() {
            model.accumulateLogProbabilityGradient(weights: w, query: q, candidates: candidates, chosenPosition: pos,
                                                   scale: p[pos] * q.expectedReward(of: a), into: &g)
        }
        let h: Float = 1.0 / 1024
        for j in 0..<model.featureCount {
            var a = w, b = w
            a[j] += h; b[j] -= h
            let fd = (ranker.setValue(candidates: candidates, query: LearnedLateStageQuery(base: q, model: model, weights: a))
                - ranker.setValue(candidates: candidates, query: LearnedLateStageQuery(base: q, model: model, weights: b))) / Double(2 * h)
            XCTAssertEqual(g[j], fd, accuracy: 1e-6, "weight \(j)")
        }
        XCTAssertGreaterThan(g.map(abs).max()!, 1e-4, "a gradient that is zero everywhere would pass vacuously")
    }

    /// `φ₀ = e_F` scores exactly like the fixed LSR, so a learned LSR starts from it; the
    /// synthetic features carry the reward logit `β⟨x, v_a⟩ + c_a` as the sum of the first dx+1.
    func testInitialWeightsReproduceFixedLSRAndFeaturesCarryTheLogit() {
        let q = env.query(id: 1)
        let model = LinearLateStageModel(featureCount: q.lateStageFeatureCount, temperature: 1)
        let view = LearnedLateStageQuery(base: q, model: model, weights: model.initialWeights())
        var psi = [Double](repeating: 0, count: model.featureCount)
        for a in 0..<q.itemCount {
            XCTAssertEqual(view.lateStageScore(of: a), q.lateStageScore(of: a), accuracy: 1e-12)
            XCTAssertEqual(view.expectedReward(of: a), q.expectedReward(of: a))
            psi.withUnsafeMutableBufferPointer { q.lateStageFeatures(of: a, into: $0) }
            let logit = psi[0..<model.featureCount - 1].reduce(0, +)
            XCTAssertEqual(1 / (1 + Foundation.exp(-logit)), q.expectedReward(of: a), accuracy: 1e-6)
        }
    }

    /// The alternating schedule: ESR blocks first; `lsrUpdates(before:)` counts LSR steps.
    func testModeScheduleAndUpdateCount() {
        for mode in LateStageMode.allCases {
            for every in [1, 3, 7] {
                var count = 0
                for step in 0..<50 {
                    XCTAssertEqual(mode.lsrUpdates(before: step, every: every), count, "\(mode) every \(every) step \(step)")
                    if mode.updatesLSR(step: step, every: every) { count += 1 }
                    if mode == .alternating {
                        XCTAssertNotEqual(mode.updatesESR(step: step, every: every), mode.updatesLSR(step: step, every: every))
                    }
                }
            }
        }
        XCTAssertTrue(LateStageMode.alternating.updatesESR(step: 0, every: 5))
        XCTAssertTrue(LateStageMode.alternating.updatesLSR(step: 5, every: 5))
        XCTAssertFalse(LateStageMode.lsrOnly.updatesESR(step: 0, every: 5))
    }
}
