import Foundation

/// The fixed late-stage ranker π₂(a | x, S): a softmax over the LSR scores restricted to
/// the candidate set S with temperature τ₂,
///
///   π₂(a | x, S) = exp(ℓ_a/τ₂) / Σ_{b∈S} exp(ℓ_b/τ₂),
///
/// and `τ₂ = 0` is the argmax (ties to the earlier candidate). Cost O(|S|).
public struct LateStageRanker: Sendable, Hashable, Codable {
    public var temperature: Double

    public init(temperature: Double) {
        precondition(temperature >= 0, "LSR temperature must be ≥ 0")
        self.temperature = temperature
    }

    /// π₂(· | x, S) in the order of `candidates`.
    public func probabilities<Q: RankingQuery>(candidates: [Int], query: Q) -> [Double] {
        var p = [Double](repeating: 0, count: candidates.count)
        guard !candidates.isEmpty else { return p }
        if temperature == 0 {
            p[argmax(candidates: candidates, query: query)] = 1
            return p
        }
        p.withUnsafeMutableBufferPointer { softmax(candidates: candidates, query: query, into: $0) }
        return p
    }

    /// `p[i] = π₂(candidates[i])` for τ₂ > 0: `exp(ℓ/τ₂ − max)` normalized by its sum, in
    /// candidate order (the one arithmetic `probabilities` and `choose` share). O(|S|).
    @inline(__always)
    func softmax<Q: RankingQuery>(candidates: [Int], query: Q, into p: UnsafeMutableBufferPointer<Double>) {
        var m = -Double.infinity
        for (i, c) in candidates.enumerated() {
            p[i] = query.lateStageScore(of: c) / temperature
            m = Swift.max(m, p[i])
        }
        var z = 0.0
        for i in p.indices { p[i] = Foundation.exp(p[i] - m); z += p[i] }
        for i in p.indices { p[i] /= z }
    }

    /// Position in `candidates` of the candidate with the highest LSR score (the first of
    /// equals): `RankingQuery.lateStageArgmax`.
    public func argmax<Q: RankingQuery>(candidates: [Int], query: Q) -> Int {
        query.lateStageArgmax(of: candidates)
    }

    /// Samples a position in `candidates` from π₂ with one uniform draw of `stream` (none
    /// for the argmax, τ₂ = 0). The probabilities live in a stack buffer for the call (they
    /// were an array per rollout). O(|S|).
    public func choose<Q: RankingQuery>(candidates: [Int], query: Q, stream: inout RandomStream) -> Int {
        if temperature == 0 { return argmax(candidates: candidates, query: query) }
        let n = candidates.count
        return withUnsafeTemporaryAllocation(of: Double.self, capacity: n) { p in
            softmax(candidates: candidates, query: query, into: p)
            let u = stream.uniform()
            var acc = 0.0
            for i in 0..<n {
                acc += p[i]
                if u < acc { return i }
            }
            return n - 1
        }
    }

    /// `R(S) = Σ_{a∈S} π₂(a|S) q(a)`: the expected reward of a candidate set.
    public func setValue<Q: RankingQuery>(candidates: [Int], query: Q) -> Double {
        let p = probabilities(candidates: candidates, query: query)
        var v = 0.0
        for (i, c) in candidates.enumerated() where p[i] > 0 { v += p[i] * query.expectedReward(of: c) }
        return v
    }

    /// The LSR's favourite item over the whole universe (what an oracle ESR must keep); O(N).
    public func favourite<Q: RankingQuery>(query: Q) -> Int {
        var best = 0
        var bestScore = -Double.infinity
        for a in 0..<query.itemCount {
            let v = query.lateStageScore(of: a)
            if v > bestScore { bestScore = v; best = a }
        }
        return best
    }
}
