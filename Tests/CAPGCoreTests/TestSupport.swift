import CAPGCore
import Foundation

/// A query given by explicit tables of expected rewards and LSR scores (tiny test cases).
struct TableQuery: RankingQuery {
    var q: [Double]
    var l: [Double]
    var itemCount: Int { q.count }
    func lateStageScore(of item: Int) -> Double { l[item] }
    func expectedReward(of item: Int) -> Double { q[item] }
}

/// Deterministic test vectors from the project's own generator.
func randomScores(_ n: Int, seed: Int, scale: Double = 1) -> [Double] {
    var s = RandomStream(RandomKey(seed: 12345, purpose: .variance, query: seed))
    return (0..<n).map { _ in scale * s.normal() }
}

func randomUnit(_ n: Int, seed: Int) -> [Double] {
    var s = RandomStream(RandomKey(seed: 777, purpose: .variance, query: seed))
    return (0..<n).map { _ in s.uniform() }
}

/// Central finite difference of f at s along coordinate j.
func finiteDifference(_ f: ([Double]) -> Double, at s: [Double], coordinate j: Int, h: Double = 1e-5) -> Double {
    var a = s, b = s
    a[j] += h; b[j] -= h
    return (f(a) - f(b)) / (2 * h)
}

/// SplitMix64: a small deterministic generator for test inputs (keys, weights).
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
