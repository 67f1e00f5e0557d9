import Foundation
import XCTest

@testable import CAPGCore

/// The policy evaluator's choice of method (issue 17 item 8: K = 1 took 45 s where K = 2
/// took 0.38 s at N = 2000, because K = 1 enumerated its N prefixes at O(N) each).
final class PolicyEvaluatorTests: XCTestCase {
    /// K = 1 is a softmax: O(N) item visits per context, no more than the K = 2 Monte-Carlo
    /// path at N = 2000 with the default eval_samples (a work count, not a timing).
    func testSingleItemSetsCostLinearWork() {
        let lsr = LateStageRanker(temperature: 0)
        let one = PolicyEvaluator(k: 1, lsr: lsr, samples: 4, seed: 1)
        let two = PolicyEvaluator(k: 2, lsr: lsr, samples: 4, seed: 1)
        XCTAssertEqual(one.method(itemCount: 2000), .softmax)
        XCTAssertEqual(two.method(itemCount: 2000), .monteCarlo(samples: 4))
        XCTAssertEqual(one.method(itemCount: 2000).itemVisits(n: 2000), 2000)
        XCTAssertLessThanOrEqual(one.method(itemCount: 2000).itemVisits(n: 2000), two.method(itemCount: 2000).itemVisits(n: 2000))
        // What K = 1 cost before: N prefixes of O(N) each.
        XCTAssertEqual(PolicyEvaluator.Method.enumeration(prefixes: 2000).itemVisits(n: 2000), 4_000_000)
    }

    /// The softmax path gives the enumeration's value and recall (to rounding) on a small
    /// synthetic universe, for a soft and a hard LSR.
    func testSoftmaxMatchesEnumeration() {
        var c = SyntheticConfig()
        c.items = 30; c.contextDim = 3
        let env = SyntheticEnvironment(config: c)
        var r = RandomStream(RandomKey(seed: 3, purpose: .variance, query: 0))
        for temperature in [0.0, 0.5] {
            let lsr = LateStageRanker(temperature: temperature)
            let evaluator = PolicyEvaluator(k: 1, lsr: lsr, samples: 4, seed: 1)
            for id in 0..<3 {
                let q = env.query(id: id, evaluation: true)
                let s = (0..<c.items).map { _ in 2 * r.normal() }
                let fav = lsr.favourite(query: q)
                let fast = evaluator.evaluate(scores: s, query: q, queryID: id, favourite: fav)
                var v = 0.0, rec = 0.0
                PrefixEnumeration.forEach(n: s.count, k: 1) { sigma in
                    let p = exp(PlackettLuce.logProbability(scores: s, prefix: sigma))
                    v += p * lsr.setValue(candidates: sigma, query: q)
                    if sigma.contains(fav) { rec += p }
                }
                XCTAssertEqual(fast.value, v, accuracy: 1e-14 * max(1, abs(v)))
                XCTAssertEqual(fast.recall, rec, accuracy: 1e-14)
            }
        }
    }
}
