import Foundation

/// Graded-relevance ranking metrics for LETOR evaluation.
///
/// Conventions (used everywhere in capg, so numbers are comparable):
/// - gain `2^rel − 1` (or `rel` with `LabelGain.linear`), discount `1/log2(rank + 1)` with
///   ranks 1-based; labels are non-negative reals (usually the integers 0…4);
/// - the ranking of a score vector is by descending score, ties broken by ascending
///   document index (deterministic; a constant score vector ranks in file order);
/// - a query whose labels are all 0 has no ideal DCG: its NDCG (and its best-document
///   recall) is **undefined and the query is excluded** (`nil`), never counted as 0 or 1.
///   Report the number of evaluated queries next to the mean.
public enum RankingMetrics {
    /// `DCG@K = Σ_{r=1}^{min(K,n)} g(rel_(r))/log2(r + 1)` of labels in ranked order, with
    /// `g` the `gain` (`2^rel − 1` by default).
    public static func dcg<C: Collection>(rankedLabels: C, k: Int, gain: LabelGain = .exp2) -> Double
    where C.Element: BinaryFloatingPoint {
        var total = 0.0
        for (r, rel) in rankedLabels.prefix(max(0, k)).enumerated() where rel > 0 {
            total += gain.gain(Double(rel)) / Foundation.log2(Double(r + 2))
        }
        return total
    }

    /// Document indices in ranking order: descending score, ties by ascending index. O(n log n).
    public static func ranking<S: Collection>(scores: S) -> [Int] where S.Element: BinaryFloatingPoint, S.Index == Int {
        let base = scores.startIndex
        return (0..<scores.count).sorted { i, j in
            let a = scores[base + i], b = scores[base + j]
            return a > b || (a == b && i < j)
        }
    }

    /// `NDCG@K = DCG@K(ranking by scores) / DCG@K(ideal ranking by labels)`, in [0, 1];
    /// `nil` if every label is 0 (excluded, see the type's notes). K ≥ n uses all documents.
    /// O(n log n).
    public static func ndcg<S: Collection, L: Collection>(scores: S, labels: L, k: Int, gain: LabelGain = .exp2) -> Double?
    where S.Element: BinaryFloatingPoint, S.Index == Int, L.Element: BinaryFloatingPoint, L.Index == Int {
        ndcg(ranking: ranking(scores: scores), labels: labels, k: k, gain: gain)
    }

    /// NDCG@K of a ranking already computed by `ranking(scores:)` (several cutoffs of one
    /// query share one sort). O(n log n) for the ideal ranking.
    public static func ndcg<L: Collection>(ranking order: [Int], labels: L, k: Int, gain: LabelGain = .exp2) -> Double?
    where L.Element: BinaryFloatingPoint, L.Index == Int {
        precondition(order.count == labels.count, "ranking and labels differ in length")
        precondition(k >= 1, "NDCG@K needs K ≥ 1")
        let lab = Array(labels)
        let ideal = dcg(rankedLabels: lab.sorted(by: >), k: k, gain: gain)
        guard ideal > 0 else { return nil }
        return dcg(rankedLabels: order.lazy.map { lab[$0] }, k: k, gain: gain) / ideal
    }

    /// Reciprocal rank `1/r` of the first document with a label > 0 in `order`; `nil` if
    /// every label is 0 (excluded, like NDCG). O(n).
    public static func reciprocalRank<L: Collection>(ranking order: [Int], labels: L) -> Double?
    where L.Element: BinaryFloatingPoint, L.Index == Int {
        let base = labels.startIndex
        for (r, d) in order.enumerated() where labels[base + d] > 0 { return 1 / Double(r + 1) }
        return nil
    }

    /// Index of the most relevant document (largest label; ties → lowest index), e.g. the
    /// `favourite` of `PolicyEvaluator` for LETOR. `nil` if every label is 0.
    public static func mostRelevantDocument<L: Collection>(labels: L) -> Int? where L.Element: BinaryFloatingPoint {
        var best = -1, bestLabel: L.Element = 0
        for (i, l) in labels.enumerated() where l > bestLabel { best = i; bestLabel = l }
        return best >= 0 ? best : nil
    }

    /// Recall of the most relevant document in a candidate set: 1 if `candidates` contains a
    /// document whose label equals the query's maximum label (any of tied maxima counts), else
    /// 0; `nil` if every label is 0. O(n + |S|).
    public static func bestDocumentRecall<C: Sequence, L: Collection>(candidates: C, labels: L) -> Double?
    where C.Element == Int, L.Element: BinaryFloatingPoint, L.Index == Int {
        guard let top = labels.max(), top > 0 else { return nil }
        let base = labels.startIndex
        for d in candidates where labels[base + d] == top { return 1 }
        return 0
    }
}

/// Sums of LETOR evaluation metrics over queries (sums, so ranks can allreduce `packed`).
public struct RankingMetricSums: Sendable, Equatable {
    public var ndcgSum = 0.0
    public var recallSum = 0.0
    /// Queries with a defined metric (some label > 0).
    public var evaluated = 0.0
    /// Queries excluded because every label is 0.
    public var excluded = 0.0

    public init() {}

    /// Adds one query's NDCG and best-document recall (both nil or both defined).
    public mutating func add(ndcg: Double?, recall: Double?) {
        if let n = ndcg, let r = recall { ndcgSum += n; recallSum += r; evaluated += 1 } else { excluded += 1 }
    }

    public var meanNDCG: Double { evaluated > 0 ? ndcgSum / evaluated : .nan }
    public var meanRecall: Double { evaluated > 0 ? recallSum / evaluated : .nan }

    public var packed: [Double] { [ndcgSum, recallSum, evaluated, excluded] }
    public init(packed p: [Double]) {
        precondition(p.count == 4)
        ndcgSum = p[0]; recallSum = p[1]; evaluated = p[2]; excluded = p[3]
    }

    public static func + (a: Self, b: Self) -> Self {
        Self(packed: zip(a.packed, b.packed).map { $0 + $1 })
    }
}
