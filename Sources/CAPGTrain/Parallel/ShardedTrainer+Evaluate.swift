import CAPGCore
import CAPGParallel
import Foundation

/// Evaluation and the random/oracle reference values on an item-sharded row, with the
/// single-process evaluator's noise and enumeration rule, so the numbers are the same; cost
/// per rank O(N/S) per evaluation query (plus one small all-gather per chunk).
extension ShardedTrainer {
    /// Evaluation queries per chunk: 1 when the evaluator needs whole rows (N doubles each),
    /// else `evaluationChunk(shardItems:)`.
    var evaluationChunk: Int { evaluator.needsWholeRow(items: config.items) ? 1 : Self.evaluationChunk(shardItems: shard.count) }

    /// 64 queries, fewer when their Float scores and Double rows (12 bytes per query and local
    /// item) would pass 256 MiB — the training chunk's budget. (A fixed 64 held 3.8 GB per rank
    /// at N/S = 5·10⁶, on top of the step's own buffers.) O(1).
    static func evaluationChunk(shardItems: Int) -> Int {
        queriesWithinBudget(bytesPerQueryAndItem: 12, shardItems: shardItems, limit: 64)
    }

    /// Value and recall sums of the ESR whose shard rows are `rows` on the queries of `c`
    /// (`PolicyEvaluator.evaluate` on the full rows). Monte Carlo: a local Gumbel-top-K per
    /// (query, sample) with the evaluator's noise, one all-gather, the exact merge. When the
    /// evaluator needs whole rows (enumeration at tiny N, or the K = 1 softmax), they are
    /// gathered instead, one query at a time (N doubles each).
    func evaluationSums(rows: [[Double]], queries: [SyntheticQuery], ids: [Int], favourites: [Int]) throws -> EvaluationSums {
        var total = EvaluationSums()
        let n = config.items, k = config.k
        if evaluator.needsWholeRow(items: n) {
            let width = (n + grid.itemShards - 1) / grid.itemShards
            var payload = [Double](repeating: 0, count: rows.count * width)
            for (i, r) in rows.enumerated() { for j in r.indices { payload[i * width + j] = r[j] } }
            let all = allgather(payload, grid.items)
            for i in rows.indices {
                var full = [Double]()
                full.reserveCapacity(n)
                for s in shard.all {
                    let base = s.index * payload.count + i * width
                    full += all[base..<(base + s.count)]
                }
                total = total + evaluator.evaluate(scores: full, query: queries[i], queryID: ids[i], favourite: favourites[i])
            }
            return total
        }
        let m = evaluator.samples, width = ShardCandidate.packedWidth * k
        var payload = [Double]()
        payload.reserveCapacity(rows.count * m * width)
        for i in rows.indices {
            for s in 0..<m {
                var stream = evaluator.noiseStream(queryID: ids[i], sample: s)
                payload += ShardCandidate.pack(try ShardedGumbelTopK.localTopK(scores: rows[i], shard: shard, k: k, stream: &stream), k: k)
            }
        }
        let all = allgather(payload, grid.items)
        for i in rows.indices {
            var v = 0.0, rec = 0.0
            for s in 0..<m {
                let sigma = try mergeGathered(all, contribution: payload.count, offset: (i * m + s) * width, k: k).items
                v += evaluator.lsr.setValue(candidates: sigma, query: queries[i])
                if sigma.contains(favourites[i]) { rec += 1 }
            }
            total = total + EvaluationSums(value: v / Double(m), recall: rec / Double(m), count: 1)
        }
        return total
    }

    /// The oracle ESR's candidates (top-K by LSR score, ties toward the smaller item) of each
    /// query: local top-K of the shard's LSR scores, one all-gather, merge. Its first item is
    /// the LSR favourite. O(n_s·dx) per query.
    func oracleSets(queries: [SyntheticQuery]) throws -> [[Int]] {
        let k = config.k, width = ShardCandidate.packedWidth * k
        var payload = [Double]()
        for q in queries {
            let l = shard.range.map { q.lateStageScore(of: $0) }
            let top = GumbelTopK.topK(l, k: k).map { ShardCandidate(item: shard.lo + $0, key: l[$0], score: l[$0]) }
            payload += ShardCandidate.pack(top, k: k)
        }
        let all = allgather(payload, grid.items)
        return try queries.indices.map { i in try mergeGathered(all, contribution: payload.count, offset: i * width, k: k).items }
    }

    /// Random-ESR and oracle-ESR values and the LSR favourites of this group's evaluation
    /// queries (world sums; shard 0 of each group counts). Called once at start-up.
    func computeBaselines() throws {
        var sums = [Double](repeating: 0, count: 4)
        var favourites = [Int]()
        var start = 0
        while start < evalIDs.count {
            let ids = Array(evalIDs[start..<min(start + evaluationChunk, evalIDs.count)])
            let queries = ids.map { environment.query(id: $0, evaluation: true) }
            let oracle = try oracleSets(queries: queries)
            let fav = oracle.map { $0.first ?? 0 }
            favourites += fav
            // The random ESR needs no scores (`PolicyEvaluator.randomBaseline` draws its K-subsets
            // and reads the K items' rewards from the query): no rows, no collective.
            for (i, q) in queries.enumerated() {
                let rnd = evaluator.randomBaseline(query: q, queryID: ids[i], favourite: fav[i])
                sums[0] += rnd.value; sums[1] += rnd.recall; sums[3] += rnd.count
            }
            for (i, set) in oracle.enumerated() { sums[2] += evaluator.lsr.setValue(candidates: set, query: queries[i]) }
            start += ids.count
        }
        evalFavourites = favourites
        if grid.shard != 0 { sums = [0, 0, 0, 0] }
        grid.world.allreduceSum(&sums)
        randomValue = sums[0] / max(sums[3], 1)
        randomRecall = sums[1] / max(sums[3], 1)
        oracleValue = sums[2] / max(sums[3], 1)
    }

    public func evaluate() -> StepMetrics.Evaluation {
        // `comm_bytes_per_step` is the step's traffic: an evaluation after a step used to add
        // its all-gathers (2.5 MB at 256 evaluation queries, K = 100, against a 50 kB step).
        let stepBytes = lastStepCommBytes
        defer { lastStepCommBytes = stepBytes }
        var total = EvaluationSums()
        var start = 0
        // Buffers of its own, freed on return (not the step's: the memory estimate counts the
        // evaluation chunk as transient, next to the training chunk's buffers).
        var buffers = ShardedStepBuffers()
        do {
            while start < evalIDs.count {
                let end = min(start + evaluationChunk, evalIDs.count)
                var c = forward(Array(evalIDs[start..<end]), evaluation: true, buffers: &buffers)
                total = total + (try evaluationSums(rows: c.rows, queries: c.queries, ids: c.ids,
                                                    favourites: Array(evalFavourites[start..<end])))
                buffers.recycle(&c)
                start = end
            }
        } catch {
            // Only a malformed payload can throw here (a programming error): end the job.
            grid.world.abort(message: "item-sharded evaluation: \(error)", code: 1)
        }
        var sums = grid.shard == 0 ? [total.value, total.recall, total.count] : [0, 0, 0]
        grid.world.allreduceSum(&sums)
        let v = sums[0] / max(sums[2], 1)
        let denom = oracleValue - randomValue
        return StepMetrics.Evaluation(value: v, normalizedValue: denom != 0 ? (v - randomValue) / denom : 0,
                                      recall: sums[1] / max(sums[2], 1))
    }
}
