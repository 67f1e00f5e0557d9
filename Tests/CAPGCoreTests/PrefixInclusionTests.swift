import XCTest
@testable import CAPGCore

/// The paper code's heuristic `1 − Π_k (1 − p_k)` with a deterministic prefix (capg's reading).
final class PrefixInclusionTests: XCTestCase {
    func scores(_ n: Int, _ stream: Int, scale: Double = 1) -> [Double] { randomScores(n, seed: 500 + stream, scale: scale) }

    /// K = 1: the heuristic is exact (P = softmax), probabilities and gradient.
    func testSingleSlotIsSoftmax() {
        let s = scores(6, 1)
        let p = PrefixInclusion().probabilities(scores: s, k: 1)
        let pi = StableMath.softmax(s)
        for a in 0..<6 { XCTAssertEqual(p[a], pi[a], accuracy: 1e-15) }
    }

    /// The formula by hand for one case: N = 4, K = 2, item a = the second highest: slot 1
    /// p = w_a/Σw, slot 2 removes the top item (the deterministic prefix).
    func testFormulaByHand() {
        let s = [2.0, 1.0, 0.5, -1.0]
        let w = s.map { exp($0) }, total = w.reduce(0, +)
        let p1 = w[1] / total, p2 = w[1] / (total - w[0])
        let expected = 1 - (1 - p1) * (1 - p2)
        XCTAssertEqual(PrefixInclusion().probabilities(scores: s, k: 2)[1], expected, accuracy: 1e-15)
        // The top item's prefix skips itself: slot 2 removes item 1.
        let q1 = w[0] / total, q2 = w[0] / (total - w[1])
        XCTAssertEqual(PrefixInclusion().probabilities(scores: s, k: 2)[0], 1 - (1 - q1) * (1 - q2), accuracy: 1e-15)
    }

    /// ∂ log P/∂s_j against central differences of the model's own log P (away from score
    /// ties, where the prefix is fixed), returned log P consistent, Σ_j g_j = 0.
    func testGradientMatchesFiniteDifferences() {
        let model = PrefixInclusion()
        for (stream, n) in [(2, 5), (3, 8), (4, 12)] {
            let s = scores(n, stream, scale: 1.5)
            for k in [1, 2, 3, n - 1] {
                for a in 0..<n {
                    var g = [Double](repeating: 0, count: n)
                    let logP = model.accumulateLogProbabilityGradient(of: a, scores: s, k: k, scale: 1, into: &g)
                    XCTAssertEqual(logP, log(model.probabilities(scores: s, k: k)[a]), accuracy: 1e-12)
                    XCTAssertEqual(g.reduce(0, +), 0, accuracy: 1e-12)
                    for j in 0..<n {
                        let fd = finiteDifference({ log(model.probabilities(scores: $0, k: k)[a]) }, at: s, coordinate: j)
                        XCTAssertEqual(g[j], fd, accuracy: 1e-7, "N \(n) K \(k) item \(a) coordinate \(j)")
                    }
                }
            }
        }
    }

    /// Against brute-force enumeration: the heuristic is an approximation. Measured worst
    /// absolute error on these cases (printed) is bounded loosely; and it is exact at K = 1
    /// and when all scores are equal for K = 1 only (checked above).
    func testApproximationErrorAgainstBruteForce() {
        var worst = 0.0
        for (stream, n) in [(5, 5), (6, 6), (7, 7)] {
            let s = scores(n, stream)
            for k in 1..<n {
                let exact = ExactGradient.inclusionProbabilities(scores: s, k: k)
                let p = PrefixInclusion().probabilities(scores: s, k: k)
                for a in 0..<n { worst = max(worst, abs(p[a] - exact[a])) }
            }
        }
        print("prefix heuristic: max |P − P_brute| = \(worst)")
        XCTAssertLessThan(worst, 0.2)
        XCTAssertGreaterThan(worst, 1e-3, "the heuristic is not exact; a zero error means the test is vacuous")
    }

    /// k ≥ N: P = 1, gradient 0; extreme scores stay finite.
    func testEdgeCases() {
        let s = [3.0, -2.0, 0.0]
        var g = [0.0, 0.0, 0.0]
        XCTAssertEqual(PrefixInclusion().accumulateLogProbabilityGradient(of: 1, scores: s, k: 3, scale: 1, into: &g), 0)
        XCTAssertEqual(g, [0, 0, 0])
        let wide = [800.0, 0.0, -800.0, 1.0]
        for a in 0..<4 {
            var h = [Double](repeating: 0, count: 4)
            let logP = PrefixInclusion().accumulateLogProbabilityGradient(of: a, scores: wide, k: 2, scale: 1, into: &h)
            XCTAssertFalse(logP.isNaN, "item \(a)")
            XCTAssertTrue(h.allSatisfy(\.isFinite), "item \(a): \(h)")
        }
    }
}
