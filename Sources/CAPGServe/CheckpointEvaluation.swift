import CAPGCore
import CAPGTrain
import Foundation

/// `capg eval`: a checkpoint's ESR on held-out queries, without training, with the
/// trainer's own evaluation pieces (`TrainingTask.forward`, `PolicyEvaluator` built exactly
/// as `Trainer` builds it, `RankingMetrics`), so on the same evaluation queries `value`
/// equals the training run's final value (same per-query numbers, summed in the same order).
///
/// Per query x: value `E_{S~π_θ} R(S)`, the random-ESR and oracle-ESR values, recall
/// `P(a*(x) ∈ S)`; for LETOR also NDCG@c of the ESR's deterministic ranking for
/// c ∈ {1, 3, 5, 10, K} (gain `gain`) and the reciprocal rank of the first relevant
/// document (MRR), both undefined (excluded) for queries whose labels are all 0.
/// Point estimates are means over queries (NDCG, MRR: over the defined ones);
/// `normalized_value = (V − V_random)/(V_oracle − V_random)` of the means. Each has a 95%
/// percentile bootstrap interval over queries (`BootstrapInterval`: 1000 resamples, seed 0).
/// Cost: the trainer's evaluation, plus O(resamples · queries) for the intervals.
public struct CheckpointEvaluation {
    /// One metric with its interval.
    public struct Metric: Sendable {
        public var name: String
        public var value: Double
        public var low: Double
        public var high: Double
    }

    public var metrics: [Metric]
    public var queries: Int
    /// LETOR: queries where NDCG/MRR are defined, and those excluded (all labels 0).
    public var rankedQueries: Int?
    public var randomValue: Double
    public var oracleValue: Double
    public var k: Int
    public var bootstrap: BootstrapInterval

    public static let cutoffs = [1, 3, 5, 10]

    /// Per-query numbers.
    struct Row {
        var value: Double, recall: Double, random: Double, oracle: Double
        var ndcg: [Double?] = [], reciprocalRank: Double?
    }

    public init(model: ServingModel, task: any TrainingTask, bootstrap: BootstrapInterval = BootstrapInterval()) throws {
        let c = model.config
        guard !c.lsrMode.learnsLSR else { throw ServeError.learnedLateStage(mode: c.lsrMode.rawValue) }
        let lsr = LateStageRanker(temperature: c.lateStageTemperature)
        let evaluator = PolicyEvaluator(k: c.k, lsr: lsr, samples: c.evalSamples, seed: c.envSeed)
        let parameters = model.esrParameters
        let ids = task.evaluationIDs(rank: 0, size: 1)
        let cutoffs = Self.cutoffs + [c.k]
        var rows: [Row] = []
        // In chunks of 64 queries, as `Trainer.evaluate` scores them.
        var start = 0
        while start < ids.count {
            let end = min(start + 64, ids.count)
            let batch = task.forward(parameters: parameters, ids: Array(ids[start..<end]), evaluation: true)
            for (i, q) in batch.queries.enumerated() {
                let id = ids[start + i]
                let scores = batch.range(i).map { Double(batch.scores[$0]) }
                let favourite = lsr.favourite(query: q)
                let e = evaluator.evaluate(scores: scores, query: q, queryID: id, favourite: favourite)
                let r = evaluator.randomBaseline(query: q, queryID: id, favourite: favourite)
                var row = Row(value: e.value, recall: e.recall, random: r.value, oracle: evaluator.oracle(query: q).value)
                if let letor = q as? LetorQuery {
                    let order = RankingMetrics.ranking(scores: scores)
                    row.ndcg = cutoffs.map { RankingMetrics.ndcg(ranking: order, labels: letor.labels, k: $0, gain: c.gain) }
                    row.reciprocalRank = RankingMetrics.reciprocalRank(ranking: order, labels: letor.labels)
                }
                rows.append(row)
            }
            start = end
        }
        let letor = c.data == .letor
        let names = ["value", "normalized_value", "recall"]
            + (letor ? Self.cutoffs.map { "ndcg_\($0)" } + ["ndcg_k", "mrr"] : [])
        func statistics(_ idx: [Int]) -> [Double] {
            var v = 0.0, rec = 0.0, rnd = 0.0, orc = 0.0
            var ndcg = [Double](repeating: 0, count: cutoffs.count), ndcgN = 0.0, rr = 0.0, rrN = 0.0
            for i in idx {
                let row = rows[i]
                v += row.value; rec += row.recall; rnd += row.random; orc += row.oracle
                if letor, row.ndcg.first.flatMap({ $0 }) != nil {
                    for j in cutoffs.indices { ndcg[j] += row.ndcg[j]! }
                    ndcgN += 1
                }
                if let r = row.reciprocalRank { rr += r; rrN += 1 }
            }
            let n = Double(max(idx.count, 1))
            let (mv, mr, mo) = (v / n, rnd / n, orc / n)
            // The trainer's formula (`Trainer.evaluate`): 0 when oracle = random exactly.
            var out = [mv, mo != mr ? (mv - mr) / (mo - mr) : 0, rec / n]
            if letor { out += ndcg.map { ndcgN > 0 ? $0 / ndcgN : .nan } + [rrN > 0 ? rr / rrN : .nan] }
            return out
        }
        let all = Array(rows.indices)
        let point = statistics(all)
        let ci = bootstrap.intervals(queries: rows.count, statistics: statistics)
        metrics = names.indices.map { Metric(name: names[$0], value: point[$0], low: ci.isEmpty ? .nan : ci[$0].low,
                                             high: ci.isEmpty ? .nan : ci[$0].high) }
        queries = rows.count
        rankedQueries = letor ? rows.filter { $0.ndcg.first.flatMap { $0 } != nil }.count : nil
        randomValue = rows.reduce(0) { $0 + $1.random } / Double(max(rows.count, 1))
        oracleValue = rows.reduce(0) { $0 + $1.oracle } / Double(max(rows.count, 1))
        k = c.k
        self.bootstrap = bootstrap
    }

    public func metric(_ name: String) -> Metric? { metrics.first { $0.name == name } }

    /// One JSON object: every metric `m` as `m`, `m_ci_low`, `m_ci_high` (null when
    /// undefined), plus `random_value`, `oracle_value`, `normalized_value_meaningful`
    /// (`NormalizedValue`), `queries`, `ranked_queries` (LETOR), `k`, `confidence`,
    /// `bootstrap_resamples`, `bootstrap_seed`.
    public var json: [String: Any] {
        func num(_ v: Double) -> Any { v.isFinite ? v : NSNull() }
        var o: [String: Any] = [
            "random_value": randomValue, "oracle_value": oracleValue, "queries": queries, "k": k,
            "normalized_value_meaningful": NormalizedValue.isMeaningful(random: randomValue, oracle: oracleValue),
            "confidence": bootstrap.confidence, "bootstrap_resamples": bootstrap.resamples, "bootstrap_seed": bootstrap.seed,
        ]
        if let rankedQueries { o["ranked_queries"] = rankedQueries; o["excluded_queries"] = queries - rankedQueries }
        for m in metrics { o[m.name] = num(m.value); o[m.name + "_ci_low"] = num(m.low); o[m.name + "_ci_high"] = num(m.high) }
        return o
    }

    /// Human-readable lines, e.g. `value 0.8912  [0.8850, 0.8970]`.
    public var lines: [String] {
        var out = [String(format: "%d evaluation queries; random ESR %.4f, oracle %.4f; 95%% bootstrap intervals over queries (%d resamples)",
                          queries, randomValue, oracleValue, bootstrap.resamples)]
        if let rankedQueries { out.append("\(rankedQueries) queries with a relevant document (NDCG, MRR); \(queries - rankedQueries) excluded") }
        for m in metrics {
            let name = m.name == "ndcg_k" ? "ndcg_\(k) (K)" : m.name
            var line = "  " + name.padding(toLength: 18, withPad: " ", startingAt: 0) + String(format: "%.4f  [%.4f, %.4f]", m.value, m.low, m.high)
            if m.name == "normalized_value" && !NormalizedValue.isMeaningful(random: randomValue, oracle: oracleValue) {
                line += "  (not meaningful: oracle ≈ random ESR)"
            }
            out.append(line)
        }
        return out
    }
}
