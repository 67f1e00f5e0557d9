import CAPGCore
import Foundation

extension Trainer {
    /// The uniformly random ESR's value and recall on each evaluation query
    /// (`PolicyEvaluator.randomBaseline`: eval-samples Gumbel-top-K draws over N items per
    /// query, the largest start-up cost once the LSR's top-K is batched), on `threads`
    /// threads, query i on thread i mod T. Each query's result is computed alone, so the
    /// caller's sum in query order is bitwise independent of T. O(Q·samples·N / T).
    static func randomBaselines(_ evaluator: PolicyEvaluator, queries: [any RankingQuery], ids: [Int],
                                favourites: [Int], threads: Int) -> [EvaluationSums] {
        var out = [EvaluationSums](repeating: EvaluationSums(), count: queries.count)
        let t = max(1, min(threads, queries.count))
        if t == 1 {
            for i in queries.indices {
                out[i] = evaluator.randomBaseline(query: queries[i], queryID: ids[i], favourite: favourites[i])
            }
            return out
        }
        out.withUnsafeMutableBufferPointer { buffer in
            let job = RandomBaselineJob(evaluator: evaluator, queries: queries, ids: ids, favourites: favourites,
                                        out: buffer)
            DispatchQueue.concurrentPerform(iterations: t) { thread in
                var i = thread
                while i < job.queries.count {
                    let q = job.queries[i]
                    job.out[i] = job.evaluator.randomBaseline(query: q, queryID: job.ids[i], favourite: job.favourites[i])
                    i += t
                }
            }
        }
        return out
    }
}

/// The inputs of `Trainer.randomBaselines` for its threads: read-only queries and one output
/// slot per query, each written by one thread (hence `@unchecked Sendable`).
private final class RandomBaselineJob: @unchecked Sendable {
    let evaluator: PolicyEvaluator
    let queries: [any RankingQuery]
    let ids: [Int]
    let favourites: [Int]
    let out: UnsafeMutableBufferPointer<EvaluationSums>
    init(evaluator: PolicyEvaluator, queries: [any RankingQuery], ids: [Int], favourites: [Int],
         out: UnsafeMutableBufferPointer<EvaluationSums>) {
        self.evaluator = evaluator; self.queries = queries; self.ids = ids; self.favourites = favourites; self.out = out
    }
}
