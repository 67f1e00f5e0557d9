import Foundation
import XCTest

@testable import CAPGCore

/// The exact inclusion model across wide score gaps (issue 17 item 5): clusters of items
/// separated by gaps up to 10^4 nats, checked against brute-force enumeration carried out
/// in the log domain (`log P_a = logsumexp_{σ∋a} log π(σ)`), so probabilities far below
/// the smallest double are still compared.
final class ExactInclusionGapTests: XCTestCase {
    /// `capg inclusion --scores=1,700,3 --k 2`: the top item is certain, the other two
    /// share the remaining slot by softmax.
    func testIssueExample() {
        let p = ExactInclusion().probabilities(scores: [1, 700, 3], k: 2)
        let e = exp(3.0) / (exp(1.0) + exp(3.0))
        XCTAssertEqual(p[1], 1, accuracy: 1e-15)
        XCTAssertEqual(p[2], e, accuracy: 1e-13)
        XCTAssertEqual(p[0], 1 - e, accuracy: 1e-13)
        XCTAssertEqual(p.reduce(0, +), 2, accuracy: 1e-13)
    }

    /// Every K for clustered scores with gaps from 20 nats (no peeling) to 10^4: Σ P = K to
    /// 1e-12, each P within 1e-12 absolute, and log P within 1e-11 (+ the rounding of the
    /// scores themselves) of the log-domain brute force, i.e. relative accuracy even where
    /// P underflows.
    func testWideGapsAgainstLogDomainBruteForce() {
        let model = ExactInclusion()
        var worstAbs = 0.0, worstLog = 0.0, cases = 0
        for s in Self.gapCases() {
            let scoreScale = s.map(abs).max()!
            for k in 1..<s.count {
                let bruteLog = logDomainBruteForce(s, k: k)
                let p = model.probabilities(scores: s, k: k)
                XCTAssertEqual(p.reduce(0, +), Double(k), accuracy: 1e-12, "s=\(s) K=\(k): P=\(p)")
                for a in s.indices {
                    let lp = model.logProbability(of: a, scores: s, k: k)
                    let dAbs = abs(p[a] - exp(bruteLog[a])), dLog = abs(lp - bruteLog[a])
                    worstAbs = max(worstAbs, dAbs); worstLog = max(worstLog, dLog)
                    XCTAssertLessThanOrEqual(dAbs, 1e-12, "s=\(s) K=\(k) item \(a): P \(p[a]) vs \(exp(bruteLog[a]))")
                    XCTAssertLessThanOrEqual(dLog, 1e-11 + 1e-15 * scoreScale,
                                             "s=\(s) K=\(k) item \(a): log P \(lp) vs \(bruteLog[a])")
                }
                cases += 1
            }
        }
        print("wide gaps: \(cases) cases, max |ΔP| = \(worstAbs), max |Δ log P| = \(worstLog)")
    }

    /// On moderate gaps (20–80 nats, across the peeling threshold 40 + 2 log N), the
    /// gradient of log P matches central differences of the brute-force log P and sums to 0.
    func testGradientAcrossModerateGapsMatchesFiniteDifferences() {
        let model = ExactInclusion()
        var worst = 0.0
        for s in Self.gapCases(gaps: [20, 45, 80]) where s.count <= 5 {
            for k in 1..<s.count {
                for a in s.indices {
                    var g = [Double](repeating: 0, count: s.count)
                    _ = model.accumulateLogProbabilityGradient(of: a, scores: s, k: k, scale: 1, into: &g)
                    XCTAssertEqual(g.reduce(0, +), 0, accuracy: 1e-12 * (1 + g.map(abs).max()!), "s=\(s) K=\(k) item \(a)")
                    for j in s.indices {
                        let h = 1e-5
                        var plus = s, minus = s
                        plus[j] += h; minus[j] -= h
                        let fd = (logDomainBruteForce(plus, k: k)[a] - logDomainBruteForce(minus, k: k)[a]) / (2 * h)
                        worst = max(worst, abs(g[j] - fd) / (1 + abs(fd)))
                        XCTAssertEqual(g[j], fd, accuracy: 1e-6 * (1 + abs(fd)), "s=\(s) K=\(k) ∂log P_\(a)/∂s_\(j)")
                    }
                }
            }
        }
        print("moderate gaps: gradient vs brute-force FD max rel. error \(worst)")
    }

    /// A chain of narrow gaps spanning more than 709 nats (no single gap to peel): 25 items
    /// 30 nats apart. Small K against the log-domain brute force (where P ≥ e^{−660};
    /// smaller P inside an unpeelable chain is a documented limit); K = N − 1, where the
    /// bottom item is excluded unless it beats the one above it (P ≈ e^{−30}), by that
    /// first-order value; Σ P = K for every K. (A clamp at 650 nats below the top used to
    /// give Σ P = 25 for K = 24.)
    func testChainOfNarrowGapsSpanningMoreThan709Nats() {
        let model = ExactInclusion()
        let s = (0..<25).map { -30 * Double($0) }
        for k in [1, 2, 3, 12, 23, 24] {
            let p = model.probabilities(scores: s, k: k)
            XCTAssertEqual(p.reduce(0, +), Double(k), accuracy: 1e-12, "K=\(k): \(p)")
        }
        for k in [1, 2] {
            let brute = logDomainBruteForce(s, k: k)
            for a in s.indices {
                let lp = model.logProbability(of: a, scores: s, k: k)
                if brute[a] > -660 {
                    XCTAssertEqual(lp, brute[a], accuracy: 1e-11 + 1e-15 * 720, "K=\(k) item \(a)")
                } else {
                    // Documented limit of the unpeeled race: P below ~1e-287 is not resolved
                    // (the grid starts at u = 1e-300 and P is floored at the smallest normal).
                    XCTAssertTrue(lp.isFinite && lp < -650, "K=\(k) item \(a): log P \(lp), true \(brute[a])")
                }
            }
        }
        let p = model.probabilities(scores: s, k: 24)
        // P(bottom ∈ S) = P(bottom beats item 23 and item 23 is last) ≈ e^{−30}/(1 + e^{−30}) to O(e^{−60}).
        XCTAssertEqual(p[24], exp(-30) / (1 + exp(-30)), accuracy: 1e-6 * exp(-30))
        XCTAssertEqual(p[23], 1 - exp(-30), accuracy: 1e-15)
        var g = [Double](repeating: 0, count: s.count)
        _ = model.accumulateLogProbabilityGradient(of: 24, scores: s, k: 24, scale: 1, into: &g)
        XCTAssertTrue(g.allSatisfy(\.isFinite), "\(g)")
        XCTAssertEqual(g[24], 1, accuracy: 1e-9)   // ∂ log P/∂s_bottom ≈ 1 − P
        XCTAssertEqual(g[23], -1, accuracy: 1e-9)
    }

    /// Scores made of clusters (normal(0,1) draws around a level) separated by the given
    /// gaps, N ≤ 6, item order shuffled so the hot items are not always first.
    static func gapCases(gaps: [Double] = [20, 45, 80, 700, 1e4]) -> [[Double]] {
        var out: [[Double]] = [[1, 700, 3]]
        let shapes: [[Int]] = [[1, 2], [2, 2], [3, 2], [1, 1, 2], [2, 1, 2], [1, 4]]
        var r = RandomStream(RandomKey(seed: 17, purpose: .variance, query: 5))
        for (si, shape) in shapes.enumerated() {
            for (gi, gap) in gaps.enumerated() {
                var level = 0.0, s: [Double] = []
                for (ci, size) in shape.enumerated() {
                    // Alternate the given gap with a second one from the list for 3 clusters.
                    if ci > 0 { level -= ci == 1 ? gap : gaps[(gi + si) % gaps.count] }
                    for _ in 0..<size { s.append(level + r.normal()) }
                }
                // Deterministic shuffle (rotate by the case number) so hot items move around.
                let shift = (si + gi) % s.count
                out.append(Array(s[shift...] + s[..<shift]))
            }
        }
        return out
    }
}

/// `log P(a∈S)` for every a by enumerating every ordered K-prefix, accumulated with a
/// running log-sum-exp per item (no term is ever exponentiated on its own).
/// O(K · N!/(N−K)!).
private func logDomainBruteForce(_ s: [Double], k: Int) -> [Double] {
    var terms = [[Double]](repeating: [], count: s.count)
    PrefixEnumeration.forEach(n: s.count, k: k) { sigma in
        let lp = PlackettLuce.logProbability(scores: s, prefix: sigma)
        for a in sigma { terms[a].append(lp) }
    }
    return terms.map { StableMath.logSumExp($0) }
}
