import ArgumentParser
import CAPGTrain
import Foundation

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train the ESR on the synthetic environment and write a run directory.",
        discussion: """
        The run directory gets config.json (the resolved configuration), metrics.jsonl and
        metrics.csv (one row per logged step) and summary.json (final_value,
        final_normalized_value, recall, steps, wall_seconds, param_fingerprint, ...).
        """)

    @OptionGroup var env: EnvironmentOptions

    @Option(help: "Candidate-set size K sampled by the ESR (default 50).")
    var k: Int?
    @Option(help: "Gradient estimator: vpg | capg | topk (default capg).")
    var estimator: String?
    @Option(help: "Rollouts per context per step M (default 1).")
    var samples: Int?
    @Option(name: .customLong("batch-size"), help: "Global batch B: queries per step over all ranks (default 64).")
    var batchSize: Int?
    @Option(help: "Number of optimizer steps (default 300).")
    var steps: Int?
    @Option(help: "Learning rate (default 0.05).")
    var lr: Double?
    @Option(help: "Optimizer: adam | sgd (default adam).")
    var optimizer: String?
    @Option(name: .customLong("eval-every"), help: "Evaluate the policy every N steps (default 25).")
    var evalEvery: Int?
    @Option(name: .customLong("run-dir"), help: "Run directory for config, metrics and summary (default runs/<estimator>-k<K>-seed<seed>).")
    var runDir: String?
    @Flag(help: "Print only the final summary line.")
    var quiet = false

    func run() throws {
        var c = TrainingConfig()
        do {
            try env.resolve(into: &c)
            if let k { try c.set("k", String(k), source: "--k") }
            if let estimator { try c.set("estimator", estimator, source: "--estimator") }
            if let samples { try c.set("samples", String(samples), source: "--samples") }
            if let batchSize { try c.set("batch_size", String(batchSize), source: "--batch-size") }
            if let steps { try c.set("steps", String(steps), source: "--steps") }
            if let lr { try c.set("lr", String(lr), source: "--lr") }
            if let optimizer { try c.set("optimizer", optimizer, source: "--optimizer") }
            if let evalEvery { try c.set("eval_every", String(evalEvery), source: "--eval-every") }
            try c.validate()
        } catch let e as ConfigError {
            throw ValidationError(e.description)
        }
        let dir = runDir ?? "runs/\(c.estimator.rawValue)-k\(c.k)-seed\(c.seed)"
        let summary = try TrainingRun(config: c, runDirectory: dir, quiet: quiet).run(communicator: SingleProcessCommunicator())
        print(String(format: "result: value %.4f (random ESR %.4f, oracle %.4f)  normalized %.3f  recall %.3f  steps %d  %.1fs  fingerprint %@",
                     summary.finalValue, summary.randomValue, summary.oracleValue, summary.finalNormalizedValue,
                     summary.recall, summary.steps, summary.wallSeconds, String(summary.paramFingerprint.prefix(16))))
        print("run directory: \(dir)")
    }
}
