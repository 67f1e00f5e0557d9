import XCTest
@testable import CAPGCore

/// V-PG-SwR and TOP1-PG (CA-PG-SwR): candidates are K i.i.d. draws from softmax(s).
/// Checked against enumeration of every draw tuple (`ExactGradient.withReplacement`), and
/// their bias against the exact gradient of the *without*-replacement (Plackett-Luce)
/// policy value is measured.
final class WithReplacementEstimatorTests: XCTestCase {
    let n = 4
    let k = 3

    func makeQuery(seed: Int) -> TableQuery {
        TableQuery(q: randomUnit(n, seed: seed), l: randomScores(n, seed: seed + 100))
    }

    func cosine(_ a: [Double], _ b: [Double]) -> Double {
        let dot = zip(a, b).map(*).reduce(0, +)
        return dot / (a.map { $0 * $0 }.reduce(0, +).squareRoot() * b.map { $0 * $0 }.reduce(0, +).squareRoot())
    }

    /// The enumerated with-replacement gradient equals central differences of the
    /// enumerated value (so it is a valid reference).
    func testWithReplacementGradientMatchesFiniteDifferences() {
        for temperature in [0.0, 0.5] {
            let lsr = LateStageRanker(temperature: temperature)
            let q = makeQuery(seed: 21)
            let s = randomScores(n, seed: 22)
            let exact = ExactGradient.withReplacement(scores: s, query: q, k: k, lsr: lsr)
            for j in 0..<n {
                let fd = finiteDifference({ ExactGradient.withReplacement(scores: $0, query: q, k: k, lsr: lsr).value }, at: s, coordinate: j)
                XCTAssertEqual(exact.gradient[j], fd, accuracy: 1e-8)
            }
        }
    }

    /// K = 1: both policies draw one item from softmax(s), so the enumerated
    /// with-replacement gradient is the Plackett-Luce one.
    func testSingleDrawPoliciesCoincide() {
        let lsr = LateStageRanker(temperature: 0)
        let q = makeQuery(seed: 23)
        let s = randomScores(n, seed: 24)
        let swr = ExactGradient.withReplacement(scores: s, query: q, k: 1, lsr: lsr)
        let wor = ExactGradient.compute(scores: s, query: q, k: 1, lsr: lsr)
        XCTAssertEqual(swr.value, wor.value, accuracy: 1e-14)
        for j in 0..<n { XCTAssertEqual(swr.gradient[j], wor.gradient[j], accuracy: 1e-14) }
    }

    /// Draws: the sampler's draw frequencies match softmax(s) (chi-square-style bound: each
    /// frequency within 5 binomial standard errors), counts sum to K, candidates distinct.
    func testSamplerDrawsFromSoftmax() {
        let s = randomScores(n, seed: 25)
        let pi = StableMath.softmax(s)
        var hits = [Double](repeating: 0, count: n)
        let rounds = 20_000
        for t in 0..<rounds {
            var stream = RandomStream(RandomKey(seed: 3, purpose: .candidateSampling, step: t))
            let d = SoftmaxWithReplacement.sample(scores: s, k: k, stream: &stream)
            XCTAssertEqual(d.counts.reduce(0, +), k)
            XCTAssertEqual(Set(d.items).count, d.items.count)
            for (a, c) in zip(d.items, d.counts) { hits[a] += Double(c) }
        }
        let draws = Double(rounds * k)
        for a in 0..<n {
            let se = (pi[a] * (1 - pi[a]) / draws).squareRoot()
            XCTAssertEqual(hits[a] / draws, pi[a], accuracy: 5 * se)
        }
    }

    /// Mean and standard error of `draws` single estimates.
    func moments(_ est: PolicyGradientEstimator, s: [Double], q: TableQuery, draws: Int) -> (mean: [Double], se: [Double]) {
        var sum = [Double](repeating: 0, count: n), sum2 = sum
        for t in 0..<draws {
            var g = [Double](repeating: 0, count: n)
            est.accumulate(scores: s, query: q, seed: 41, step: t, queryID: 0, runningBaseline: 0.3, scale: 1, into: &g)
            for i in 0..<n { sum[i] += g[i]; sum2[i] += g[i] * g[i] }
        }
        let d = Double(draws)
        let mean = sum.map { $0 / d }
        return (mean, (0..<n).map { ((sum2[$0] / d - mean[$0] * mean[$0]) / (d - 1)).squareRoot() })
    }

    /// V-PG-SwR is unbiased for ∇V_swr: its Monte-Carlo mean lies within 5 standard errors of
    /// the enumerated gradient in every coordinate (fixed seed), with and without baselines.
    func testVanillaWithReplacementIsUnbiasedForItsOwnPolicy() throws {
        let lsr = LateStageRanker(temperature: 0.5)
        let q = makeQuery(seed: 26)
        let s = randomScores(n, seed: 27)
        let exact = ExactGradient.withReplacement(scores: s, query: q, k: k, lsr: lsr).gradient
        let sampler = RolloutSampler(k: k, lsr: lsr, reward: .bernoulli)
        for (baseline, m) in [(BaselineKind.none, 1), (.mean, 1), (.loo, 3)] {
            let est = try PolicyGradientEstimator(kind: .vpgSwr, baseline: baseline, samples: m, sampler: sampler)
            let (mean, se) = moments(est, s: s, q: q, draws: 30_000)
            for i in 0..<n { XCTAssertEqual(mean[i], exact[i], accuracy: 5 * se[i], "baseline \(baseline) coordinate \(i)") }
        }
    }

    /// …and biased for the Plackett-Luce policy capg deploys: the exact with-replacement
    /// gradient differs from the exact without-replacement one by far more than rounding.
    func testVanillaWithReplacementBiasAgainstPlackettLuce() {
        let lsr = LateStageRanker(temperature: 0)
        let q = makeQuery(seed: 28)
        let s = randomScores(n, seed: 29)
        let swr = ExactGradient.withReplacement(scores: s, query: q, k: k, lsr: lsr).gradient
        let wor = ExactGradient.compute(scores: s, query: q, k: k, lsr: lsr).gradient
        let diff = zip(swr, wor).map { abs($0 - $1) }.max()!
        let cos = cosine(swr, wor)
        print("vpg-swr vs PL gradient (N=\(n), K=\(k)): max |Δ| \(diff), cosine \(cos)")
        XCTAssertGreaterThan(diff, 1e-3)
        XCTAssertLessThan(cos, 1 - 1e-6)
    }

    /// TOP1-PG's exact expectation Σ_tuples P(tuple) Σ_{a∈S} π₂(a|S) q(a)(e_a − π).
    func top1Expectation(scores s: [Double], query q: TableQuery, k: Int, lsr: LateStageRanker) -> [Double] {
        let pi = StableMath.softmax(s)
        var out = [Double](repeating: 0, count: n)
        var tuple = [Int](repeating: 0, count: k)
        func visit(_ depth: Int, _ p: Double) {
            if depth == k {
                var items: [Int] = []
                for a in tuple where !items.contains(a) { items.append(a) }
                let p2 = lsr.probabilities(candidates: items, query: q)
                for (i, a) in items.enumerated() where p2[i] > 0 {
                    SoftmaxWithReplacement.accumulateLogProbabilityGradient(
                        of: [(a, 1)], softmax: pi, scale: p * p2[i] * q.q[a], into: &out)
                }
                return
            }
            for a in 0..<n { tuple[depth] = a; visit(depth + 1, p * pi[a]) }
        }
        visit(0, 1)
        return out
    }

    /// TOP1-PG with one draw is REINFORCE for the softmax policy: its exact expectation
    /// equals ∇ Σ_a π_a q(a) (enumerated, to rounding), and the sampled estimator's mean
    /// matches it within 5 standard errors.
    func testTop1IsUnbiasedWithOneDraw() throws {
        let lsr = LateStageRanker(temperature: 0)
        let q = makeQuery(seed: 30)
        let s = randomScores(n, seed: 31)
        let exact = ExactGradient.compute(scores: s, query: q, k: 1, lsr: lsr).gradient
        let expectation = top1Expectation(scores: s, query: q, k: 1, lsr: lsr)
        for i in 0..<n { XCTAssertEqual(expectation[i], exact[i], accuracy: 1e-14) }
        let est = try PolicyGradientEstimator(kind: .top1, samples: 1,
                                              sampler: RolloutSampler(k: 1, lsr: lsr, reward: .bernoulli))
        let (mean, se) = moments(est, s: s, q: q, draws: 30_000)
        for i in 0..<n { XCTAssertEqual(mean[i], exact[i], accuracy: 5 * se[i]) }
    }

    /// With K > 1 TOP1-PG is biased for both the with-replacement and the Plackett-Luce
    /// value (the chosen item was pre-selected by the LSR out of K draws); the sampled mean
    /// still matches its enumerated expectation (the sampling path is wired correctly).
    func testTop1BiasWithSeveralDraws() throws {
        let lsr = LateStageRanker(temperature: 0.4)
        let q = makeQuery(seed: 32)
        let s = randomScores(n, seed: 33)
        let expectation = top1Expectation(scores: s, query: q, k: k, lsr: lsr)
        let swr = ExactGradient.withReplacement(scores: s, query: q, k: k, lsr: lsr).gradient
        let wor = ExactGradient.compute(scores: s, query: q, k: k, lsr: lsr).gradient
        print("top1 expectation vs ∇V_swr: cosine \(cosine(expectation, swr)); vs ∇V_PL: cosine \(cosine(expectation, wor))")
        XCTAssertGreaterThan(zip(expectation, swr).map { abs($0 - $1) }.max()!, 1e-3)
        XCTAssertGreaterThan(zip(expectation, wor).map { abs($0 - $1) }.max()!, 1e-3)
        let est = try PolicyGradientEstimator(kind: .top1, samples: 1,
                                              sampler: RolloutSampler(k: k, lsr: lsr, reward: .bernoulli))
        let (mean, se) = moments(est, s: s, q: q, draws: 30_000)
        for i in 0..<n { XCTAssertEqual(mean[i], expectation[i], accuracy: 5 * se[i]) }
    }

    /// Each rollout's gradient is the finite-difference gradient of its log-probability:
    /// vpg-swr's Σ_k log π_{a_k} (weighted by r − b) and top1's log π_a (weighted by r).
    func testRolloutGradientsMatchFiniteDifferences() throws {
        let lsr = LateStageRanker(temperature: 0.5)
        let q = makeQuery(seed: 34)
        let s = randomScores(n, seed: 35)
        let sampler = RolloutSampler(k: k, lsr: lsr, reward: .expected)
        func logPi(_ x: [Double], _ a: Int) -> Double { log(StableMath.softmax(x)[a]) }
        for kind in [EstimatorKind.vpgSwr, .top1] {
            let est = try PolicyGradientEstimator(kind: kind, samples: 1, sampler: sampler)
            for t in 0..<5 {
                let r = est.rollouts(scores: s, query: q, seed: 7, step: t, queryID: 0)[0]
                var g = [Double](repeating: 0, count: n)
                est.accumulate(rollouts: [r], scores: s, query: q, scale: 1, into: &g)
                let f: ([Double]) -> Double = kind == .top1
                    ? { r.reward * logPi($0, r.chosen) }
                    : { x in r.reward * zip(r.candidates, r.multiplicities!).map { Double($1) * logPi(x, $0) }.reduce(0, +) }
                for j in 0..<n { XCTAssertEqual(g[j], finiteDifference(f, at: s, coordinate: j), accuracy: 1e-8) }
            }
        }
    }
}
