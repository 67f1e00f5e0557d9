import XCTest
@testable import CAPGCore

/// Hybrid inclusion (threshold for the bulk, exact race for items far above the threshold)
/// in the tail, where the threshold model's `1 − P` decays double-exponentially.
final class HybridInclusionTests: XCTestCase {
    /// Scores: a bulk of `n − hot` standard normal draws and `hot` items `gap` nats above the bulk's top.
    func tailScores(n: Int, hot: Int, gap: Double, stream: Int) -> [Double] {
        var s = randomScores(n - hot, seed: 900 + stream)
        let top = s.max()!
        for h in 0..<hot { s.append(top + gap + 0.3 * Double(h)) }
        return s
    }

    /// Brute force `1 − P(a∈S) = Σ_{σ∌a} π(σ)` and `∂ log P_a/∂s = −∂(1 − P_a)/∂s / P_a`, both
    /// summed over the prefixes *without* a (no cancellation when P ≈ 1).
    func bruteForceComplement(_ s: [Double], k: Int, item a: Int) -> (complement: Double, gradient: [Double]) {
        var c = 0.0
        var g = [Double](repeating: 0, count: s.count)
        PrefixEnumeration.forEach(n: s.count, k: k) { sigma in
            guard !sigma.contains(a) else { return }
            var gl = [Double](repeating: 0, count: s.count)
            let p = exp(PlackettLuce.accumulateLogProbabilityGradient(scores: s, prefix: sigma, scale: 1, into: &gl))
            c += p
            for j in s.indices { g[j] += p * gl[j] }
        }
        return (c, g.map { -$0 / (1 - c) })
    }

    /// Against enumeration (N = 8, K = 3, one or two top items at gaps 2…8): the hybrid's
    /// `1 − P` and `∂ log P/∂s_a` of the hot items (x_a > hotCut; all top items at gap ≥ 4) are
    /// within 1e-6 relative (1e-13 absolute for the derivative; they come from the exact
    /// race), while the threshold model's are off by orders of magnitude at gap ≥ 4.
    func testTailAgainstBruteForce() {
        let hybrid = HybridInclusion()
        for hot in [1, 2] {
            for gap in [2.0, 4.0, 6.0, 8.0] {
                let s = tailScores(n: 8, hot: hot, gap: gap, stream: hot)
                let solution = ThresholdInclusion.solve(scores: s, k: 3)
                for a in (8 - hot)..<8 {
                    let isHot = exp(solution.logX[a]) > hybrid.hotCut
                    if gap >= 4 { XCTAssertTrue(isHot, "gap \(gap) item \(a) should be hot") }
                    guard isHot else { continue }
                    let brute = bruteForceComplement(s, k: 3, item: a)
                    let thresholdComplement = 1 - ThresholdInclusion().probabilities(scores: s, k: 3)[a]
                    let h = hybrid.complement(of: a, scores: s, k: 3)
                    var g = [Double](repeating: 0, count: 8)
                    _ = hybrid.accumulateLogProbabilityGradient(of: a, scores: s, k: 3, scale: 1, into: &g)
                    var gt = [Double](repeating: 0, count: 8)
                    _ = ThresholdInclusion().accumulateLogProbabilityGradient(of: a, scores: s, k: 3, scale: 1, into: &gt)
                    XCTAssertEqual(h, brute.complement, accuracy: 1e-6 * brute.complement, "hot \(hot) gap \(gap) item \(a)")
                    // The race's ∂/∂s_a is 1 − ∫xC/∫C: absolute error ~1e-14 at the quadrature tolerance.
                    XCTAssertEqual(g[a], brute.gradient[a], accuracy: 1e-6 * abs(brute.gradient[a]) + 1e-13, "hot \(hot) gap \(gap) item \(a)")
                    if gap >= 4 {
                        XCTAssertLessThan(thresholdComplement, 0.1 * brute.complement, "the threshold tail should be far too thin here")
                    }
                }
            }
        }
    }

    /// Cold items are the threshold model's, bit for bit; hot ones the exact race's.
    func testColdItemsAreThreshold() {
        let s = tailScores(n: 30, hot: 1, gap: 5, stream: 3)
        let p = HybridInclusion().probabilities(scores: s, k: 4)
        let t = ThresholdInclusion().probabilities(scores: s, k: 4)
        let e = ExactInclusion().probabilities(scores: s, k: 4)
        XCTAssertEqual(p[29], e[29], accuracy: 1e-15)
        var cold = 0
        for a in 0..<29 where -log1p(-t[a]) <= 3 { XCTAssertEqual(p[a], t[a]); cold += 1 }
        XCTAssertGreaterThan(cold, 20)
    }

    /// The tail table of docs/results/inclusion_tail.md: N = 200, K = 10, one item `gap` nats
    /// above a standard normal bulk; exact (race), threshold and hybrid `1 − P` and
    /// `∂ log P/∂s_a`. Asserts the hybrid equals the exact race (it is the race there).
    func testTailTable() {
        print("| gap | exact 1 − P | threshold 1 − P | hybrid 1 − P | exact ∂log P/∂s_a | threshold | hybrid |")
        print("|---|---|---|---|---|---|---|")
        for gap in [0.0, 1, 2, 3, 4, 6, 8] {
            let s = tailScores(n: 200, hot: 1, gap: gap, stream: 7)
            let a = 199
            let exactLogP = ExactInclusion().logProbability(of: a, scores: s, k: 10)
            let exact = -expm1(exactLogP)
            let threshold = exp(-exp(ThresholdInclusion.solve(scores: s, k: 10).logX[a]))
            let hybrid = HybridInclusion().complement(of: a, scores: s, k: 10)
            var ge = [Double](repeating: 0, count: 200), gt = ge, gh = ge
            _ = ExactInclusion().accumulateLogProbabilityGradient(of: a, scores: s, k: 10, scale: 1, into: &ge)
            _ = ThresholdInclusion().accumulateLogProbabilityGradient(of: a, scores: s, k: 10, scale: 1, into: &gt)
            _ = HybridInclusion().accumulateLogProbabilityGradient(of: a, scores: s, k: 10, scale: 1, into: &gh)
            print(String(format: "| %.0f | %.3e | %.3e | %.3e | %.3e | %.3e | %.3e |", gap, exact, threshold, hybrid, ge[a], gt[a], gh[a]))
            if gap >= 2 {
                XCTAssertEqual(hybrid, exact, accuracy: 1e-9 * exact)
                XCTAssertEqual(gh[a], ge[a], accuracy: 1e-9 * abs(ge[a]))
            }
        }
    }
}
