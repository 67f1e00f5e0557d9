import XCTest
@testable import CAPGCore

final class PlackettLuceTests: XCTestCase {
    func testPrefixProbabilitiesSumToOne() {
        for (n, k) in [(4, 1), (5, 2), (5, 5), (6, 3)] {
            let s = randomScores(n, seed: n * 10 + k, scale: 2)
            var total = 0.0
            PrefixEnumeration.forEach(n: n, k: k) { total += exp(PlackettLuce.logProbability(scores: s, prefix: $0)) }
            XCTAssertEqual(total, 1, accuracy: 1e-12, "N=\(n) K=\(k)")
        }
    }

    func testGradientMatchesFiniteDifferences() {
        let s = randomScores(7, seed: 3, scale: 1.5)
        for prefix in [[2], [4, 0, 6], [1, 2, 3, 4, 5, 6, 0]] {
            var g = [Double](repeating: 0, count: 7)
            PlackettLuce.accumulateLogProbabilityGradient(scores: s, prefix: prefix, scale: 1, into: &g)
            for j in 0..<7 {
                let fd = finiteDifference({ PlackettLuce.logProbability(scores: $0, prefix: prefix) }, at: s, coordinate: j)
                XCTAssertEqual(g[j], fd, accuracy: 1e-8, "prefix \(prefix) j=\(j)")
            }
            XCTAssertEqual(g.reduce(0, +), 0, accuracy: 1e-12)
        }
    }

    /// Stable normalizers: a prefix holding almost all the mass still gives the right tail.
    func testExtremeScoresStayFinite() {
        let s: [Double] = [40, 39, 0, -5]
        var g = [Double](repeating: 0, count: 4)
        let lp = PlackettLuce.accumulateLogProbabilityGradient(scores: s, prefix: [0, 1, 2], scale: 1, into: &g)
        // log π = −log(1 + e⁻¹ + …) − log(1 + e⁻³⁹ + …) − log(1 + e⁻⁵); the middle term
        // is 1e-17, so a subtraction-based normalizer would lose the last factor entirely.
        let expected = -log1p(exp(-1.0)) - log1p(exp(-5.0))
        XCTAssertEqual(lp, expected, accuracy: 1e-9)
        XCTAssert(g.allSatisfy(\.isFinite))
    }

    /// Gumbel-top-K frequencies against exact PL prefix probabilities: Pearson chi-square over
    /// all 20 ordered prefixes (N = 5, K = 2), 19 degrees of freedom, n = 100000 fixed-seed
    /// draws. The 0.999 quantile of χ²₁₉ is 43.82: the test fails only on a real mismatch.
    func testGumbelTopKMatchesPlackettLuce() {
        let s: [Double] = [0.5, -0.3, 1.2, 0.0, -1.0]
        let n = 100_000
        var counts: [[Int]: Int] = [:]
        for i in 0..<n {
            var st = RandomStream(RandomKey(seed: 2024, purpose: .candidateSampling, query: i))
            counts[GumbelTopK.sample(scores: s, k: 2, stream: &st), default: 0] += 1
        }
        var chi2 = 0.0
        PrefixEnumeration.forEach(n: 5, k: 2) { sigma in
            let e = Double(n) * exp(PlackettLuce.logProbability(scores: s, prefix: sigma))
            let o = Double(counts[sigma] ?? 0)
            chi2 += (o - e) * (o - e) / e
        }
        XCTAssertEqual(counts.count, 20)
        XCTAssertLessThan(chi2, 43.82, "chi-square \(chi2) over 19 dof")
    }

    func testTopKSelectionIsPartialAndOrdered() {
        let s = randomScores(1000, seed: 9)
        let top = GumbelTopK.topK(s, k: 25)
        let expected = Array(s.indices.sorted { s[$0] > s[$1] }.prefix(25))
        XCTAssertEqual(top, expected)
        var st = RandomStream(RandomKey(seed: 1, purpose: .candidateSampling))
        let sample = GumbelTopK.sample(scores: s, k: 2000, stream: &st)
        XCTAssertEqual(Set(sample).count, 1000, "K ≥ N returns every item once")
    }
}

extension PlackettLuceTests {
    /// A peaked policy (score gaps ≫ 745, where e^{Δs} underflows) still gives finite
    /// log-probabilities and gradients that sum to zero.
    func testPeakedPolicyHasFiniteGradient() {
        let s: [Double] = [3000, -2000, 1000, 0, -5000]
        for prefix in [[0, 2, 3], [1, 4], [4, 1, 0]] {
            var g = [Double](repeating: 0, count: 5)
            let lp = PlackettLuce.accumulateLogProbabilityGradient(scores: s, prefix: prefix, scale: 1, into: &g)
            XCTAssert(lp.isFinite && lp <= 0, "\(prefix): \(lp)")
            XCTAssert(g.allSatisfy(\.isFinite), "\(prefix): \(g)")
            XCTAssertEqual(g.reduce(0, +), 0, accuracy: 1e-9)
        }
    }
}

extension PlackettLuceTests {
    func testPrefixCountSaturates() {
        XCTAssertEqual(PrefixEnumeration.count(n: 5, k: 2), 20)
        XCTAssertEqual(PrefixEnumeration.count(n: 10_000, k: 50), Int.max)
        XCTAssertEqual(PrefixEnumeration.count(n: 3, k: 7), 6)
    }
}

extension PlackettLuceTests {
    /// The table-rejection sampler returns exactly the plain algorithm's prefix (same
    /// uniforms, same decisions) over many score shapes, sizes and K.
    func testFastGumbelTopKEqualsReference() {
        for trial in 0..<300 {
            let n = [1, 3, 10, 100, 1000][trial % 5]
            let scale = [0.0, 0.5, 3, 20, 200][(trial / 5) % 5]
            var s = randomScores(n, seed: 5000 + trial, scale: scale)
            if trial % 7 == 0 { s = s.map { ($0 * 4).rounded() / 4 } }  // ties
            let k = [1, 2, 5, 50, 2000][(trial / 25) % 5]
            var a = RandomStream(RandomKey(seed: 77, purpose: .candidateSampling, query: trial))
            var b = a
            XCTAssertEqual(GumbelTopK.sample(scores: s, k: k, stream: &a),
                           GumbelTopK.sampleReference(scores: s, k: k, stream: &b), "trial \(trial)")
        }
    }
}
