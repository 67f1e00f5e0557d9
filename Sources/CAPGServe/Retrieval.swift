import CAPGCore
import CAPGTrain
import Foundation

/// `capg retrieve`: the ESR's serving job. For each query, the top-K items by ESR score
/// `s_i(x)` (deterministic: no Gumbel noise; ties go to the lower item index), in
/// descending score order. Cost per query: the forward pass (O(N·d) two-tower, O(n·F)
/// LETOR) plus O(N log K) for the selection.
public enum Retrieval {
    /// One query's result (`items` are item indices: two-tower item ids, LETOR document
    /// positions within the query in file order).
    public struct Result: Sendable {
        public var query: Int
        public var qid: String?
        public var items: [Int]
        public var scores: [Float]
        /// The context vector x (two-tower tasks), when asked for.
        public var context: [Double]?

        public var json: [String: Any] {
            var o: [String: Any] = ["query": query, "items": items, "scores": scores.map(Double.init)]
            if let qid { o["qid"] = qid }
            if let context { o["context"] = context }
            return o
        }
    }

    /// Top-`k` of every query `ids` of `task` (evaluation contexts / the LETOR file's queries).
    public static func run(task: any TrainingTask, parameters: [Float], ids: [Int], k: Int, includeContext: Bool = false,
                           each: (Result) throws -> Void) rethrows {
        var start = 0
        while start < ids.count {
            let end = min(start + 64, ids.count)
            let batch = task.forward(parameters: parameters, ids: Array(ids[start..<end]), evaluation: true)
            for (i, q) in batch.queries.enumerated() {
                let row = Array(batch.scores[batch.range(i)])
                let top = GumbelTopK.topK(row.map(Double.init), k: k)
                var r = Result(query: ids[start + i], items: top, scores: top.map { row[$0] })
                if let l = q as? LetorQuery { r.qid = l.qid }
                if includeContext, let s = q as? SyntheticQuery { r.context = s.context }
                try each(r)
            }
            start = end
        }
    }
}
