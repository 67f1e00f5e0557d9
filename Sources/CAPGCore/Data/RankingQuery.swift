/// One context `x` as the trainer sees it: a universe of items, the late-stage ranker's
/// score for each, and the expected reward `q(x, a)` of each.
///
/// Implemented by every environment (synthetic, LETOR, ...); the estimators and metrics see
/// only this protocol, so they do not depend on where the data came from.
public protocol RankingQuery {
    /// Size of this query's candidate universe N (may differ per query in real data).
    var itemCount: Int { get }
    /// The LSR's score `ℓ(x, a)` (higher is better); π₂ is a softmax of these over S.
    func lateStageScore(of item: Int) -> Double
    /// Expected reward `q(x, a) ∈ [0, 1]` of showing item `a`.
    func expectedReward(of item: Int) -> Double
    /// A hint that `lateStageScore` and `expectedReward` are about to be asked for `items`
    /// (a rollout's candidates): an environment whose per-item data lives in a large table
    /// may start loading those rows. Changes no result; the default does nothing.
    func prefetch(items: [Int])
    /// The LSR's argmax over a candidate list: the position of the first candidate with the
    /// largest `lateStageScore` (0 when none exceeds −∞). An environment may skip scoring
    /// candidates it can bound below the best so far, but must return exactly this
    /// position; the default scores every candidate. O(|S|) scores.
    func lateStageArgmax(of candidates: [Int]) -> Int
}

extension RankingQuery {
    public func prefetch(items: [Int]) {}

    public func lateStageArgmax(of candidates: [Int]) -> Int {
        var best = 0
        var bestScore = -Double.infinity
        for (i, c) in candidates.enumerated() {
            let v = lateStageScore(of: c)
            if v > bestScore { bestScore = v; best = i }
        }
        return best
    }
}
