import ArgumentParser
import CAPGServe
import Foundation

/// `capg eval CKPT [data flags] [--json]`.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a checkpoint's ESR on held-out queries, without training, with 95% bootstrap intervals.",
        discussion: """
        Metrics: value (policy value under the fixed LSR), normalized_value, recall, and for \
        LETOR ndcg_1, ndcg_3, ndcg_5, ndcg_10, ndcg_k (@K, the checkpoint's k) and mrr. \
        Intervals: percentile bootstrap over queries, 1000 resamples, seed 0 (fixed: the same \
        checkpoint and data give the same intervals). The evaluation queries are the \
        training run's (synthetic: ids 0..<eval_queries of the held-out contexts; LETOR: every \
        query of --test; OBD: the held-out rows), so value equals the run's final value. \
        --json prints one object: each metric m as m, m_ci_low, m_ci_high, plus random_value, \
        oracle_value, normalized_value_meaningful, queries, ranked_queries and \
        excluded_queries (LETOR), k, confidence, bootstrap_resamples, bootstrap_seed.
        """)

    @Argument(help: "Checkpoint file, `latest` pointer or checkpoint directory.")
    var checkpoint: String
    @OptionGroup var data: ServingDataOptions
    @Option(name: .customLong("eval-queries"), help: "Synthetic/OBD: number of evaluation queries (default: the checkpoint's eval_queries).")
    var evalQueries: Int?
    @Option(help: "Bootstrap resamples.")
    var resamples = 1000
    @Flag(help: "Print one JSON object.")
    var json = false

    func validate() throws {
        if resamples < 1 { throw ValidationError("--resamples must be ≥ 1 (got \(resamples))") }
        if let evalQueries, evalQueries < 1 { throw ValidationError("--eval-queries must be ≥ 1 (got \(evalQueries))") }
    }

    func run() throws {
        do {
            var model = try ServingModel(checkpoint: checkpoint)
            if let evalQueries { model = model.with(evalQueries: evalQueries) }
            let task = try TaskLoader.serving(model: model, letorFile: data.testFile, obdDir: data.obdDir)
            let report = try CheckpointEvaluation(model: model, task: task, bootstrap: BootstrapInterval(resamples: resamples))
            if json {
                var obj = report.json
                obj["checkpoint"] = model.path
                obj["step"] = model.step
                let bytes = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys])
                print(String(decoding: bytes, as: UTF8.self))
            } else {
                print("checkpoint \(model.path) (step \(model.step)): \(model.config.modelDescription)")
                report.lines.forEach { print($0) }
            }
        } catch {
            FileHandle.standardError.write(Data("capg: eval: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
