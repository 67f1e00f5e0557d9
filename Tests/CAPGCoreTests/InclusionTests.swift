import Foundation
import XCTest

@testable import CAPGCore

/// Inclusion-probability models checked against brute-force enumeration of every ordered
/// K-prefix (`P(a∈S) = Σ_{σ∋a} π(σ)`) on tiny cases, and their gradients against finite
/// differences.
final class InclusionTests: XCTestCase {
    // Tolerances of the approximations, measured on `InclusionCase.all` (N ≤ 8, every K,
    // six score patterns; deterministic seeds) and asserted with a margin. Measured:
    //   threshold   max |P − P_brute| = 0.0901 over all cases (normal(0,1): 0.0549,
    //               normal(0,3): 0.0901, ramp −6…6: 0.0891, ±6: 0.0488); equal scores exact.
    //   independent max |P − P_brute| = 0.257 on normal(0,1) draws with K ≤ N/2 (0.086 for
    //               equal scores); over all cases up to 0.995 (spread scores with K near N,
    //               where sampling with replacement badly undercounts the heavy items), so
    //               there only Σ_a P_a ≤ K is asserted.
    //   cosine(threshold ∇log P_a, exact ∇log P_a), per item, normal(0,1) draws: min 0.9918
    //               for K ≤ N/2, min 0.9452 for K > N/2, median 0.9990. Other patterns
    //               (reported, not asserted): medians 0.98–1.0, minima down to 0.885
    //               (normal(0,3)) and 0.80 (±6 spread, K > N/2).
    static let thresholdTolerance = 0.1
    static let independentToleranceSmallK = 0.3
    static let minimumCosineSmallK = 0.99
    static let minimumCosineLargeK = 0.94
    static let minimumMedianCosine = 0.998

    // MARK: Quadrature

    /// K15 integrates polynomials up to degree 22 exactly; the adaptive driver reaches its
    /// tolerance on a peaked and on an endpoint-singular integrand.
    func testAdaptiveQuadrature() {
        var sum = 0.0
        AdaptiveQuadrature.forEachKronrodNode(lower: -1, upper: 2) { x, w in sum += w * pow(x, 22) }
        XCTAssertEqual(sum, (pow(2, 23) + 1) / 23, accuracy: 1e-13 * pow(2, 23) / 23)

        let q = AdaptiveQuadrature(relativeTolerance: 1e-13)
        // ∫₀¹ 1/(1e-4 + x²) dx = 100 atan(100); ∫₀¹ −log x dx = 1.
        let r = q.integrate(breakpoints: [0, 1], dimension: 2) { x, out in
            out[0] = 1 / (1e-4 + x * x)
            out[1] = -Foundation.log(x)
        }
        XCTAssertTrue(r.converged)
        XCTAssertEqual(r.integral[0], 100 * atan(100.0), accuracy: 1e-12 * 100 * atan(100.0))
        XCTAssertEqual(r.integral[1], 1, accuracy: 1e-12)
        var again = 0.0
        r.forEachNode { x, w in again += w / (1e-4 + x * x) }
        XCTAssertEqual(again, r.integral[0], accuracy: 1e-14 * again)
    }

    // MARK: Exact model

    /// Exact P(a∈S) equals brute-force enumeration to 1e-12 for every item, and Σ_a P_a = K.
    func testExactMatchesBruteForce() {
        let model = ExactInclusion()
        var worst = 0.0
        for c in InclusionCase.all {
            let p = model.probabilities(scores: c.scores, k: c.k)
            for a in c.scores.indices {
                worst = max(worst, abs(p[a] - c.bruteForce[a]))
                XCTAssertEqual(p[a], c.bruteForce[a], accuracy: 1e-12, "\(c) item \(a)")
            }
            XCTAssertEqual(p.reduce(0, +), Double(min(c.k, c.n)), accuracy: 1e-12, "\(c)")
        }
        print("exact vs brute force: max |ΔP| = \(worst)")
    }

    /// The exact gradient of log P(a∈S) matches (i) the analytic brute-force gradient
    /// `Σ_{σ∋a} π(σ)∇log π(σ) / P_a` on every case, (ii) central differences of the
    /// brute-force log P and (iii) central differences of the model's own log P
    /// (N ≤ 6), and sums to 0 over j (shift invariance).
    func testExactGradient() {
        let model = ExactInclusion()
        var worstAnalytic = 0.0, worstFD = 0.0, worstSelfFD = 0.0, worstSum = 0.0
        for c in InclusionCase.all {
            for a in 0..<c.n {
                var g = [Double](repeating: 0, count: c.n)
                let logP = model.accumulateLogProbabilityGradient(of: a, scores: c.scores, k: c.k, scale: 1, into: &g)
                XCTAssertEqual(logP, log(c.bruteForce[a]), accuracy: 1e-11, "\(c) item \(a)")  // P to 1e-11 relative
                let scale = 1 + g.map(abs).max()!
                for j in 0..<c.n {
                    let d = abs(g[j] - c.bruteForceGradient[a][j])
                    worstAnalytic = max(worstAnalytic, d / scale)
                    XCTAssertLessThanOrEqual(d, 1e-11 * scale, "\(c) ∂log P_\(a)/∂s_\(j)")
                }
                let sum = g.reduce(0, +)
                worstSum = max(worstSum, abs(sum) / scale)
                XCTAssertLessThanOrEqual(abs(sum), 1e-12 * scale, "\(c) item \(a): gradient sum")
                guard c.n <= 6 && c.k < c.n else { continue }
                for j in 0..<c.n {
                    let fd = centralDifference(at: c.scores, coordinate: j) { s in
                        log(bruteForceInclusion(s, k: c.k)[a])
                    }
                    let fdSelf = centralDifference(at: c.scores, coordinate: j) { s in
                        model.logProbability(of: a, scores: s, k: c.k)
                    }
                    worstFD = max(worstFD, abs(g[j] - fd) / (1 + abs(fd)))
                    worstSelfFD = max(worstSelfFD, abs(g[j] - fdSelf) / (1 + abs(fdSelf)))
                    XCTAssertEqual(g[j], fd, accuracy: 1e-6 * (1 + abs(fd)), "\(c) ∂log P_\(a)/∂s_\(j) vs brute-force FD")
                    XCTAssertEqual(g[j], fdSelf, accuracy: 1e-6 * (1 + abs(fdSelf)), "\(c) ∂log P_\(a)/∂s_\(j) vs own FD")
                }
            }
        }
        print("exact gradient: max rel. error vs analytic brute force \(worstAnalytic), vs brute-force FD \(worstFD), vs own FD \(worstSelfFD), max |Σ_j g_j| \(worstSum)")
    }

    /// Extreme score gaps: no NaN or infinity, probabilities in [0, 1], and the exact model
    /// still agrees with brute force where the gap is large but representable.
    func testExtremeScoresStayFinite() {
        let cases: [[Double]] = [
            [0, -30, -30, 2, -800, -1e6],
            [1000, -1000, 0, 5, 5, 5],
            [-40, -40.5, -41, 0],
        ]
        for s in cases {
            for k in 1..<s.count {
                for kind in InclusionModelKind.allCases {
                    let model = kind.makeModel()
                    let p = model.probabilities(scores: s, k: k)
                    for a in s.indices {
                        XCTAssertTrue(p[a].isFinite && p[a] >= 0 && p[a] <= 1 + 1e-12, "\(kind) \(s) k=\(k) item \(a): \(p[a])")
                        var g = [Double](repeating: 0, count: s.count)
                        let lp = model.accumulateLogProbabilityGradient(of: a, scores: s, k: k, scale: 1, into: &g)
                        XCTAssertTrue(lp.isFinite && lp <= 1e-12, "\(kind) \(s) k=\(k) item \(a): log P \(lp)")
                        XCTAssertTrue(g.allSatisfy(\.isFinite), "\(kind) \(s) k=\(k) item \(a): \(g)")
                    }
                }
            }
        }
        // Gap of 40 nats: P of the low items is ~1e-17, still resolved relative to itself.
        let s = [-40, -40.5, -41, 0.0]
        let exact = ExactInclusion().probabilities(scores: s, k: 2)
        let brute = bruteForceInclusion(s, k: 2)
        for a in s.indices { XCTAssertEqual(exact[a], brute[a], accuracy: 1e-11 * brute[a]) }
    }

    // MARK: Approximations

    /// Threshold and independent P(a∈S) against brute force (tolerances above);
    /// threshold Σ_a P_a = K to 1e-10, independent Σ_a P_a ≤ K.
    func testApproximationsAgainstBruteForce() {
        let threshold = ThresholdInclusion(), independent = IndependentInclusion()
        var worstThreshold = 0.0, worstIndependentSmallK = 0.0, worstIndependent = 0.0
        for c in InclusionCase.all {
            let pt = threshold.probabilities(scores: c.scores, k: c.k)
            let pi = independent.probabilities(scores: c.scores, k: c.k)
            let smallK = c.isNormalDraw && 2 * c.k <= c.n
            for a in 0..<c.n {
                worstThreshold = max(worstThreshold, abs(pt[a] - c.bruteForce[a]))
                worstIndependent = max(worstIndependent, abs(pi[a] - c.bruteForce[a]))
                XCTAssertEqual(pt[a], c.bruteForce[a], accuracy: Self.thresholdTolerance, "\(c) item \(a)")
                if c.pattern == "equal" { XCTAssertEqual(pt[a], c.bruteForce[a], accuracy: 1e-12, "\(c) item \(a)") }
                if smallK {
                    worstIndependentSmallK = max(worstIndependentSmallK, abs(pi[a] - c.bruteForce[a]))
                    XCTAssertEqual(pi[a], c.bruteForce[a], accuracy: Self.independentToleranceSmallK, "\(c) item \(a)")
                }
            }
            XCTAssertEqual(pt.reduce(0, +), Double(min(c.k, c.n)), accuracy: 1e-10, "\(c)")
            XCTAssertLessThanOrEqual(pi.reduce(0, +), Double(min(c.k, c.n)) + 1e-12, "\(c)")
        }
        print("max |P − P_brute|: threshold \(worstThreshold); independent \(worstIndependentSmallK) (normal draws, K ≤ N/2), \(worstIndependent) (all)")
    }

    /// Threshold and independent gradients of log P against central differences of their
    /// own log P, and Σ_j g_j = 0.
    func testApproximateGradients() {
        for model in [ThresholdInclusion() as any InclusionModel, IndependentInclusion()] {
            var worst = 0.0
            for c in InclusionCase.all {
                for a in 0..<c.n {
                    var g = [Double](repeating: 0, count: c.n)
                    let logP = model.accumulateLogProbabilityGradient(of: a, scores: c.scores, k: c.k, scale: 1, into: &g)
                    XCTAssertEqual(logP, log(model.probabilities(scores: c.scores, k: c.k)[a]), accuracy: 1e-12)
                    XCTAssertEqual(g.reduce(0, +), 0, accuracy: 1e-12 * (1 + g.map(abs).max()!), "\(model.kind) \(c) item \(a)")
                    for j in 0..<c.n {
                        let fd = centralDifference(at: c.scores, coordinate: j) { s in
                            var scratch = [Double](repeating: 0, count: s.count)
                            return model.accumulateLogProbabilityGradient(of: a, scores: s, k: c.k, scale: 0, into: &scratch)
                        }
                        worst = max(worst, abs(g[j] - fd) / (1 + abs(fd)))
                        XCTAssertEqual(g[j], fd, accuracy: 1e-6 * (1 + abs(fd)), "\(model.kind) \(c) ∂log P_\(a)/∂s_\(j)")
                    }
                }
            }
            print("\(model.kind) gradient vs own FD: max rel. error \(worst)")
        }
    }

    /// The threshold gradient of log P_a points along the exact one: per-item cosine over j
    /// on the normal(0,1) draws (tolerances above); other patterns are reported only.
    func testThresholdGradientCosineToExact() {
        let exact = ExactInclusion(), threshold = ThresholdInclusion()
        var normal: [Double] = [], others: [String: [Double]] = [:]
        for c in InclusionCase.all where c.k < c.n {
            for a in 0..<c.n {
                var ge = [Double](repeating: 0, count: c.n), gt = ge
                _ = exact.accumulateLogProbabilityGradient(of: a, scores: c.scores, k: c.k, scale: 1, into: &ge)
                _ = threshold.accumulateLogProbabilityGradient(of: a, scores: c.scores, k: c.k, scale: 1, into: &gt)
                // A top item with P = 1 to double precision has a (numerically) zero gradient:
                // its direction is noise.
                guard norm(ge) > 1e-9 && norm(gt) > 1e-9 else { continue }
                let cos = cosine(ge, gt)
                if c.isNormalDraw {
                    normal.append(cos)
                    let bound = 2 * c.k <= c.n ? Self.minimumCosineSmallK : Self.minimumCosineLargeK
                    XCTAssertGreaterThanOrEqual(cos, bound, "\(c) item \(a)")
                } else {
                    others[c.pattern, default: []].append(cos)
                }
            }
        }
        let median = normal.sorted()[normal.count / 2]
        XCTAssertGreaterThanOrEqual(median, Self.minimumMedianCosine)
        print("cosine(threshold, exact) on normal draws: min \(normal.min()!), median \(median) over \(normal.count) items")
        for (pattern, v) in others.sorted(by: { $0.key < $1.key }) {
            print("cosine(threshold, exact) on \(pattern): min \(v.min()!), median \(v.sorted()[v.count / 2])")
        }
    }

    /// k ≥ N: every item is in S, P = 1 and the gradient is exactly 0.
    func testFullSetIsCertain() {
        let s = [0.3, -2, 5, 1]
        for kind in InclusionModelKind.allCases {
            let model = kind.makeModel()
            for k in [4, 5, 9] {
                XCTAssertEqual(model.probabilities(scores: s, k: k), [1, 1, 1, 1], "\(kind) k=\(k)")
                for a in s.indices {
                    var g = [Double](repeating: 0, count: s.count)
                    XCTAssertEqual(model.accumulateLogProbabilityGradient(of: a, scores: s, k: k, scale: 3, into: &g), 0)
                    XCTAssertEqual(g, [0, 0, 0, 0], "\(kind) k=\(k)")
                }
            }
            XCTAssertEqual(model.probabilities(scores: [2.5], k: 1), [1])
        }
    }

    /// A larger race (N = 200, K = 20, normal(0,2) scores): the exact gradient still sums
    /// to 0, P stays in (0, 1], and the quadrature needs a modest number of nodes.
    func testExactLargerCase() {
        var r = RandomStream(RandomKey(seed: 7, purpose: .variance, query: 1000))
        let s = (0..<200).map { _ in 2 * r.normal() }
        let model = ExactInclusion()
        for a in [0, 17, 123] {
            let race = ExponentialRace(scores: s, item: a, k: 20)
            let adapted = race.integrate(quadrature: model.quadrature)
            XCTAssertTrue(adapted.converged)
            XCTAssertLessThan(adapted.evaluations, 3000)
            var g = [Double](repeating: 0, count: 200)
            let logP = model.accumulateLogProbabilityGradient(of: a, scores: s, k: 20, scale: 1, into: &g)
            XCTAssertTrue(logP <= 1e-13 && logP.isFinite)
            XCTAssertEqual(g.reduce(0, +), 0, accuracy: 1e-11 * (1 + g.map(abs).max()!))
            let threshold = ThresholdInclusion().probabilities(scores: s, k: 20)[a]
            print("N=200 K=20 item \(a): exact P \(exp(logP)), threshold P \(threshold), \(adapted.panels.count) panels, \(adapted.evaluations) evaluations")
        }
    }

    /// `scale` multiplies the accumulated gradient and accumulation adds to what is there.
    func testScaleAndAccumulation() {
        let s = inclusionTestScores(6, stream: 99)
        for kind in InclusionModelKind.allCases {
            let model = kind.makeModel()
            var g1 = [Double](repeating: 0, count: 6)
            _ = model.accumulateLogProbabilityGradient(of: 2, scores: s, k: 3, scale: 1, into: &g1)
            var g2 = [Double](repeating: 1, count: 6)
            _ = model.accumulateLogProbabilityGradient(of: 2, scores: s, k: 3, scale: -2.5, into: &g2)
            for j in 0..<6 { XCTAssertEqual(g2[j], 1 - 2.5 * g1[j], accuracy: 1e-14, "\(kind)") }
        }
    }
}

// MARK: - Cases and brute force

/// One tiny test case with its brute-force inclusion probabilities and gradients.
private struct InclusionCase: CustomStringConvertible, Sendable {
    let pattern: String
    let scores: [Double]
    let k: Int
    /// `P(a∈S)` by enumeration.
    let bruteForce: [Double]
    /// `∂ log P(a∈S)/∂s_j` by enumeration: `Σ_{σ∋a} π(σ) ∇log π(σ) / P(a∈S)`.
    let bruteForceGradient: [[Double]]

    var n: Int { scores.count }
    /// The patterns that are plain normal(0,1) draws ("small random cases").
    var isNormalDraw: Bool { pattern == "normal" || pattern == "shifted" }
    var description: String { "\(pattern) N=\(n) K=\(k) s=\(scores.map { (($0 * 1000).rounded() / 1000) })" }

    /// N = 1…8, K = 1…N, six score patterns: normal(0,1), normal(0,3), ±6 alternating,
    /// all equal, a −6…6 ramp, and normal(0,1) shifted by +400 (offset handling).
    static let all: [InclusionCase] = {
        var cases: [InclusionCase] = []
        for n in 1...8 {
            var r = RandomStream(RandomKey(seed: 7, purpose: .variance, query: n))
            let patterns: [(String, [Double])] = [
                ("normal", (0..<n).map { _ in r.normal() }),
                ("normal×3", (0..<n).map { _ in 3 * r.normal() }),
                ("±6", (0..<n).map { i in (i % 2 == 0 ? 6.0 : -6.0) + 0.3 * r.normal() }),
                ("equal", [Double](repeating: 0.7, count: n)),
                ("ramp", (0..<n).map { i in n == 1 ? 0 : -6 + 12 * Double(i) / Double(n - 1) }),
                ("shifted", (0..<n).map { _ in 400 + r.normal() }),
            ]
            for (name, s) in patterns {
                for k in 1...n {
                    let (p, g) = bruteForceInclusionAndGradient(s, k: k)
                    cases.append(InclusionCase(pattern: name, scores: s, k: k, bruteForce: p, bruteForceGradient: g))
                }
            }
        }
        return cases
    }()
}

/// `P(a∈S) = Σ_{σ∋a} exp(log π(σ))` over every ordered K-prefix. O(K · N!/(N−K)!).
private func bruteForceInclusion(_ s: [Double], k: Int) -> [Double] {
    var p = [Double](repeating: 0, count: s.count)
    PrefixEnumeration.forEach(n: s.count, k: k) { sigma in
        let pr = exp(PlackettLuce.logProbability(scores: s, prefix: sigma))
        for a in sigma { p[a] += pr }
    }
    return p
}

/// Brute-force `P(a∈S)` and `∂ log P(a∈S)/∂s_j` (rows a) by enumeration.
func bruteForceInclusionAndGradient(_ s: [Double], k: Int) -> ([Double], [[Double]]) {
    let n = s.count
    var p = [Double](repeating: 0, count: n)
    var dp = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
    PrefixEnumeration.forEach(n: n, k: k) { sigma in
        var g = [Double](repeating: 0, count: n)
        let pr = exp(PlackettLuce.accumulateLogProbabilityGradient(scores: s, prefix: sigma, scale: 1, into: &g))
        for a in sigma {
            p[a] += pr
            for j in 0..<n { dp[a][j] += pr * g[j] }
        }
    }
    for a in 0..<n { for j in 0..<n { dp[a][j] /= p[a] } }
    return (p, dp)
}

/// Central difference `(f(s + h e_j) − f(s − h e_j)) / 2h`.
private func centralDifference(at s: [Double], coordinate j: Int, h: Double = 1e-5, _ f: ([Double]) -> Double) -> Double {
    var plus = s, minus = s
    plus[j] += h; minus[j] -= h
    return (f(plus) - f(minus)) / (2 * h)
}

private func inclusionTestScores(_ n: Int, stream: Int) -> [Double] {
    var r = RandomStream(RandomKey(seed: 7, purpose: .variance, query: stream))
    return (0..<n).map { _ in r.normal() }
}

private func norm(_ a: [Double]) -> Double { a.map { $0 * $0 }.reduce(0, +).squareRoot() }

private func cosine(_ a: [Double], _ b: [Double]) -> Double {
    let dot = zip(a, b).map(*).reduce(0, +)
    let na = a.map { $0 * $0 }.reduce(0, +).squareRoot(), nb = b.map { $0 * $0 }.reduce(0, +).squareRoot()
    return dot / (na * nb)
}
