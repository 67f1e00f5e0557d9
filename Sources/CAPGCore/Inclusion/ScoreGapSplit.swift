import Foundation

/// The split of a score vector at its first wide gap from the top: the "hot" items above
/// the gap and the rest below it, for `ExactInclusion` to condition on.
///
/// Let the scores sorted decreasingly be `s_(1) ≥ … ≥ s_(n)` and h the first position with
/// `g = s_(h) − s_(h+1) ≥ minimumGap(n) = 40 + 2 log n`. With `H` the top h items and `R`
/// the rest, the PL draw picks an item of R while an item of H is left with probability
/// at most `δ = h · W_R / w_(h) ≤ h (n−h) e^{−g} ≤ n² e^{−g}/4 ≤ e^{−40}/4 ≈ 1e-18`. So,
/// relative to the probabilities involved (see `ExactInclusion`), conditioning on "the
/// first h draws are H" changes nothing at double precision, and a gap of any size
/// (10^4 nats, where `e^{−g}` underflows) is handled without forming `e^{−g}`.
///
/// Cost: O(n log n) (one sort).
struct ScoreGapSplit {
    /// Indices above the gap, increasing.
    let hot: [Int]
    /// Indices below the gap, increasing.
    let rest: [Int]
    /// Lowest score of the hot items, `s_(h)`.
    let lowestHotScore: Double

    /// `40 + 2 log n` nats: the peeling error `n² e^{−g}/4` is then below `e^{−40}/4`.
    static func minimumGap(count n: Int) -> Double { 40 + 2 * Foundation.log(Double(n)) }

    /// The split at the first gap of at least `minimumGap(count:)` from the top, or nil if
    /// there is none (every consecutive gap is narrower). Scores must be finite.
    init?(scores: [Double]) {
        let n = scores.count
        guard n >= 2 else { return nil }
        let order = scores.indices.sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
        let gap = Self.minimumGap(count: n)
        guard let h = (1..<n).first(where: { scores[order[$0 - 1]] - scores[order[$0]] >= gap }) else { return nil }
        hot = order[..<h].sorted()
        rest = order[h...].sorted()
        lowestHotScore = scores[order[h - 1]]
    }
}
