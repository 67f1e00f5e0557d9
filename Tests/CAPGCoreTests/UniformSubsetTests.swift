import Foundation
import XCTest

@testable import CAPGCore

/// The uniformly random ESR's K-subsets (`UniformSubset`, Floyd's algorithm) and the random
/// baseline built on them. Fixed seeds; tolerances are 5 standard deviations of the tested
/// mean, computed from the exact variance.
final class UniformSubsetTests: XCTestCase {
    /// Every 3-subset of 6 items comes out equally often (each count is Binomial(M, 1/20)).
    func testEverySubsetIsEquallyLikely() {
        let n = 6, k = 3, m = 20_000
        var counts: [[Int]: Int] = [:]
        var stream = RandomStream(RandomKey(seed: 11, purpose: .variance, query: 0))
        for _ in 0..<m {
            let s = UniformSubset.sample(n: n, k: k, stream: &stream)
            XCTAssertEqual(Set(s).count, k)
            XCTAssertTrue(s.allSatisfy { $0 >= 0 && $0 < n })
            counts[s.sorted(), default: 0] += 1
        }
        XCTAssertEqual(counts.count, 20)
        let p = 1.0 / 20, mean = Double(m) * p, sd = (Double(m) * p * (1 - p)).squareRoot()
        for (subset, c) in counts { XCTAssertEqual(Double(c), mean, accuracy: 5 * sd, "\(subset)") }
    }

    func testWholeUniverseWhenKReachesN() {
        var stream = RandomStream(RandomKey(seed: 1, purpose: .variance, query: 0))
        XCTAssertEqual(UniformSubset.sample(n: 5, k: 5, stream: &stream), [0, 1, 2, 3, 4])
        XCTAssertEqual(UniformSubset.sample(n: 3, k: 7, stream: &stream), [0, 1, 2])
        XCTAssertEqual(UniformSubset.sample(n: 4, k: 0, stream: &stream), [])
    }

    /// `index(upTo:)` is uniform for a small n and stays in range (with the right mean) for an
    /// n above 2³², where a 32-bit multiply-shift could not reach most values.
    func testIndexIsUniformAndCoversLargeRanges() {
        var stream = RandomStream(RandomKey(seed: 5, purpose: .variance, query: 1))
        let m = 30_000
        var counts = [Int](repeating: 0, count: 3)
        for _ in 0..<m { counts[stream.index(upTo: 3)] += 1 }
        let sd3 = (Double(m) / 3 * (2.0 / 3)).squareRoot()
        for c in counts { XCTAssertEqual(Double(c), Double(m) / 3, accuracy: 5 * sd3) }
        let big = 3_000_000_000_000
        var sum = 0.0
        for _ in 0..<m {
            let v = stream.index(upTo: big)
            XCTAssertTrue(v >= 0 && v < big)
            sum += Double(v) / Double(big)
        }
        // Uniform on [0, 1): mean 1/2, variance 1/12.
        XCTAssertEqual(sum / Double(m), 0.5, accuracy: 5 * (1.0 / 12 / Double(m)).squareRoot())
        XCTAssertEqual(stream.index(upTo: 1), 0)
    }

    /// The random baseline's Monte-Carlo value and recall match the exact expectation over
    /// all C(30, 4) subsets (N!/(N−K)! = 657,720 prefixes, so the evaluator takes the
    /// Monte-Carlo path), for a hard and a soft LSR.
    func testRandomBaselineMatchesEnumerationOfAllSubsets() {
        var c = SyntheticConfig()
        c.items = 30; c.contextDim = 3
        let env = SyntheticEnvironment(config: c)
        let n = c.items, k = 4, samples = 60
        for temperature in [0.0, 0.5] {
            let lsr = LateStageRanker(temperature: temperature)
            let evaluator = PolicyEvaluator(k: k, lsr: lsr, samples: samples, seed: 7)
            XCTAssertEqual(evaluator.method(itemCount: n), .monteCarlo(samples: samples))
            let draws = Double(PolicyEvaluator.randomBaselineSampleFactor * samples)
            for id in 0..<2 {
                let q = env.query(id: id, evaluation: true)
                let fav = lsr.favourite(query: q)
                var sum = 0.0, sum2 = 0.0, count = 0.0
                for a in 0..<n { for b in (a + 1)..<n { for c2 in (b + 1)..<n { for d in (c2 + 1)..<n {
                    let v = lsr.setValue(candidates: [a, b, c2, d], query: q)
                    sum += v; sum2 += v * v; count += 1
                } } } }
                let mean = sum / count, variance = max(sum2 / count - mean * mean, 0)
                let r = evaluator.randomBaseline(query: q, queryID: id, favourite: fav)
                XCTAssertEqual(r.value, mean, accuracy: 5 * (variance / draws).squareRoot() + 1e-12,
                               "T = \(temperature), query \(id)")
                let p = Double(k) / Double(n)
                XCTAssertEqual(r.recall, p, accuracy: 5 * (p * (1 - p) / draws).squareRoot())
            }
        }
    }
}
