import XCTest
@testable import CAPGCore

final class EstimatorTests: XCTestCase {
    let n = 5
    let k = 2

    func makeQuery(seed: Int) -> TableQuery {
        TableQuery(q: randomUnit(n, seed: seed), l: randomScores(n, seed: seed + 100))
    }

    /// The oracle gradient equals central finite differences of the exact value.
    func testExactGradientMatchesFiniteDifferences() {
        for temperature in [0.0, 0.3] {
            let lsr = LateStageRanker(temperature: temperature)
            let q = makeQuery(seed: 1)
            let s = randomScores(n, seed: 2)
            let exact = ExactGradient.compute(scores: s, query: q, k: k, lsr: lsr)
            for j in 0..<n {
                let fd = finiteDifference({ ExactGradient.compute(scores: $0, query: q, k: k, lsr: lsr).value }, at: s, coordinate: j)
                XCTAssertEqual(exact.gradient[j], fd, accuracy: 1e-8)
            }
        }
    }

    /// The exact expectation of CA-PG (exact inclusion) by enumeration:
    /// `Σ_σ π(σ) Σ_{a∈σ} π₂(a|S) q(a) ∇ log P(a ∈ S)` (an argmax LSR puts all of π₂ on one item).
    func creditAssignedExpectation(scores s: [Double], query q: TableQuery, lsr: LateStageRanker) -> [Double] {
        var expectation = [Double](repeating: 0, count: n)
        let model = ExactInclusion()
        PrefixEnumeration.forEach(n: n, k: k) { sigma in
            let p = exp(PlackettLuce.logProbability(scores: s, prefix: sigma))
            let p2 = lsr.probabilities(candidates: sigma, query: q)
            for (i, a) in sigma.enumerated() where p2[i] > 0 {
                _ = model.accumulateLogProbabilityGradient(of: a, scores: s, k: k, scale: p * p2[i] * q.q[a], into: &expectation)
            }
        }
        return expectation
    }

    /// Mean and per-coordinate standard error of `draws` single estimates.
    func moments(_ est: PolicyGradientEstimator, s: [Double], q: TableQuery, draws: Int) -> (mean: [Double], se: [Double]) {
        var sum = [Double](repeating: 0, count: n), sum2 = sum
        for t in 0..<draws {
            var g = [Double](repeating: 0, count: n)
            est.accumulate(scores: s, query: q, seed: 99, step: t, queryID: 0, scale: 1, into: &g)
            for i in 0..<n { sum[i] += g[i]; sum2[i] += g[i] * g[i] }
        }
        let d = Double(draws)
        let mean = sum.map { $0 / d }
        let se = (0..<n).map { i in ((sum2[i] / d - mean[i] * mean[i]) / (d - 1)).squareRoot() }
        return (mean, se)
    }

    /// V-PG is unbiased: its Monte-Carlo mean lies within 5 standard errors of the exact
    /// gradient in every coordinate (fixed seed, so the outcome is deterministic), for each
    /// baseline.
    func testVanillaIsUnbiased() throws {
        let lsr = LateStageRanker(temperature: 0.5)
        let q = makeQuery(seed: 3)
        let s = randomScores(n, seed: 4)
        let exact = ExactGradient.compute(scores: s, query: q, k: k, lsr: lsr).gradient
        let sampler = RolloutSampler(k: k, lsr: lsr, reward: .bernoulli)
        for (baseline, m) in [(BaselineKind.none, 1), (.loo, 4), (.mean, 1)] {
            let est = try PolicyGradientEstimator(kind: .vpg, baseline: baseline, samples: m, sampler: sampler)
            var sum = [Double](repeating: 0, count: n), sum2 = sum
            let draws = 40_000
            for t in 0..<draws {
                var g = [Double](repeating: 0, count: n)
                est.accumulate(scores: s, query: q, seed: 5, step: t, queryID: 0, runningBaseline: 0.4, scale: 1, into: &g)
                for i in 0..<n { sum[i] += g[i]; sum2[i] += g[i] * g[i] }
            }
            for i in 0..<n {
                let mean = sum[i] / Double(draws)
                let se = ((sum2[i] / Double(draws) - mean * mean) / Double(draws - 1)).squareRoot()
                XCTAssertEqual(mean, exact[i], accuracy: 5 * se, "baseline \(baseline) coordinate \(i)")
            }
        }
    }

    /// Under a uniform LSR π₂(a|S) = 1/K, CA-PG with exact inclusion is unbiased. Checked
    /// *exactly*: its expectation Σ_σ π(σ) Σ_{a∈σ} π₂(a|S) q(a) ∇log P(a∈S) is enumerated.
    func testCreditAssignedIsExactUnderUniformLSR() {
        let q = TableQuery(q: randomUnit(n, seed: 7), l: [Double](repeating: 0.3, count: n))
        let lsr = LateStageRanker(temperature: 1)  // equal LSR scores: uniform over S
        let s = randomScores(n, seed: 8)
        let exact = ExactGradient.compute(scores: s, query: q, k: k, lsr: lsr).gradient
        let expectation = creditAssignedExpectation(scores: s, query: q, lsr: lsr)
        for i in 0..<n { XCTAssertEqual(expectation[i], exact[i], accuracy: 1e-10) }
    }

    /// With an aligned argmax LSR (ℓ = q + small noise) CA-PG is biased, but measurably
    /// little: its exact expectation still points along the true gradient. (With an LSR
    /// unrelated to the reward the cosine can be negative: alignment is what CA-PG needs.)
    func testCreditAssignedBiasIsMeasuredUnderArgmaxLSR() {
        let reward = randomUnit(n, seed: 11)
        let noise = randomScores(n, seed: 111)
        let q = TableQuery(q: reward, l: (0..<n).map { reward[$0] + 0.05 * noise[$0] })
        let lsr = LateStageRanker(temperature: 0)
        let s = randomScores(n, seed: 12)
        let exact = ExactGradient.compute(scores: s, query: q, k: k, lsr: lsr).gradient
        let expectation = creditAssignedExpectation(scores: s, query: q, lsr: lsr)
        let dot = zip(expectation, exact).map(*).reduce(0, +)
        let cos = dot / (expectation.map { $0 * $0 }.reduce(0, +).squareRoot() * exact.map { $0 * $0 }.reduce(0, +).squareRoot())
        XCTAssertGreaterThan(cos, 0.5)
        XCTAssertLessThan(cos, 1 - 1e-6, "an argmax LSR makes CA-PG biased; an exact match would mean the test is vacuous")
    }

    /// The CA-PG estimator's Monte-Carlo mean matches its exact expectation (the sampling
    /// path — Gumbel-top-K, LSR choice, reward draw — is wired correctly).
    func testCreditAssignedMonteCarloMatchesExpectation() throws {
        let q = makeQuery(seed: 13)
        let lsr = LateStageRanker(temperature: 0.4)
        let s = randomScores(n, seed: 14)
        let expectation = creditAssignedExpectation(scores: s, query: q, lsr: lsr)
        let est = try PolicyGradientEstimator(kind: .capg, inclusion: .exact, samples: 1,
                                              sampler: RolloutSampler(k: k, lsr: lsr, reward: .bernoulli))
        let (mean, se) = moments(est, s: s, q: q, draws: 20_000)
        for i in 0..<n { XCTAssertEqual(mean[i], expectation[i], accuracy: 5 * se[i] + 1e-12) }
    }

    /// Top-K correction: λ_K(a)(e_a − π) is λ times the finite-difference gradient of log π_a.
    func testTopKCorrectionGradient() {
        let s = randomScores(6, seed: 15)
        let pi = StableMath.softmax(s)
        for a in 0..<6 {
            var g = [Double](repeating: 0, count: 6)
            TopKCorrection.accumulate(of: a, softmax: pi, k: 3, scale: 1, into: &g)
            let lam = 3 * pow(1 - pi[a], 2)
            XCTAssertEqual(TopKCorrection.lambda(pi: pi[a], k: 3), lam, accuracy: 1e-14)
            for j in 0..<6 {
                let fd = finiteDifference({ log(StableMath.softmax($0)[a]) }, at: s, coordinate: j)
                XCTAssertEqual(g[j], lam * fd, accuracy: 1e-8)
            }
        }
    }

    func testConfigurationErrors() {
        let sampler = RolloutSampler(k: 2, lsr: LateStageRanker(temperature: 0), reward: .bernoulli)
        XCTAssertThrowsError(try PolicyGradientEstimator(kind: .vpg, baseline: .loo, samples: 1, sampler: sampler)) {
            XCTAssertEqual($0 as? EstimatorError, .looNeedsTwoSamples(1))
        }
        XCTAssertThrowsError(try PolicyGradientEstimator(kind: .capg, samples: 0, sampler: sampler))
    }
}

extension EstimatorTests {
    /// The distillation gradient on a fixed candidate set matches finite differences of J,
    /// vanishes off S, and sums to zero over S (J is shift invariant).
    func testDistillationGradientMatchesFiniteDifferences() {
        let s = randomScores(7, seed: 21, scale: 2)
        let cands = [5, 1, 3]
        for target in [[0.2, 0.5, 0.3], [0.0, 1.0, 0.0]] {
            var g = [Double](repeating: 0, count: 7)
            Distillation.accumulate(scores: s, candidates: cands, target: target, scale: 1, into: &g)
            for j in 0..<7 {
                let fd = finiteDifference({ x in
                    var scratch = [Double](repeating: 0, count: 7)
                    return Distillation.accumulate(scores: x, candidates: cands, target: target, scale: 1, into: &scratch)
                }, at: s, coordinate: j)
                XCTAssertEqual(g[j], fd, accuracy: 1e-8, "coordinate \(j)")
            }
            XCTAssertEqual(g.reduce(0, +), 0, accuracy: 1e-12)
            XCTAssertEqual(g[0], 0); XCTAssertEqual(g[2], 0)
        }
    }
}

extension EstimatorTests {
    /// `GradientVariance` applies a mean baseline (estimated by pilot rollouts) — it lowers
    /// V-PG's variance here — and its SNR is bias-corrected: resolved signals stay positive.
    func testGradientVarianceUsesMeanBaselineAndCorrectsSNR() throws {
        let q = TableQuery(q: [0.9, 0.8, 0.7, 0.6, 0.5], l: [0.9, 0.8, 0.7, 0.6, 0.5])
        let s = randomScores(n, seed: 31)
        let sampler = RolloutSampler(k: k, lsr: LateStageRanker(temperature: 0), reward: .expected)
        func measure(_ b: BaselineKind) throws -> GradientMoments {
            let est = try PolicyGradientEstimator(kind: .vpg, baseline: b, samples: 1, sampler: sampler)
            return GradientVariance.measure(estimator: est, scores: s, query: q, queryID: 0, seed: 3, draws: 4000,
                                            reference: ExactGradient.compute(scores: s, query: q, k: k, lsr: sampler.lsr).gradient,
                                            user: [1], context: [1], itemEmbeddings: [Float](repeating: 0, count: n), embeddingDim: 1)
        }
        let none = try measure(.none), mean = try measure(.mean)
        XCTAssertLessThan(mean.varianceScores, 0.5 * none.varianceScores, "rewards ≈ 0.8 ± 0.1: a mean baseline removes most variance")
        XCTAssertGreaterThan(mean.snr, 0)
        XCTAssertGreaterThan(mean.cosineToReference, 0.9)
    }
}
