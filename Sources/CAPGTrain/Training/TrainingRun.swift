import CAPGCore
import Foundation

/// The final figures of a run, as written to `summary.json`.
public struct RunSummary: Sendable {
    public var finalValue: Double
    public var finalNormalizedValue: Double
    public var recall: Double
    public var randomValue: Double
    public var oracleValue: Double
    public var steps: Int
    public var ranks: Int
    public var wallSeconds: Double
    public var computeSeconds: Double
    public var allreduceSeconds: Double
    public var optimizerSeconds: Double
    public var ioSeconds: Double
    public var paramFingerprint: String
    public var meanRewardLast: Double
    public var replicaChecks: Int

    public var json: [String: Any] {
        ["final_value": finalValue, "final_normalized_value": finalNormalizedValue, "recall": recall,
         "random_value": randomValue, "oracle_value": oracleValue, "steps": steps, "ranks": ranks,
         "wall_seconds": wallSeconds, "compute_seconds": computeSeconds, "allreduce_seconds": allreduceSeconds,
         "optimizer_seconds": optimizerSeconds, "io_seconds": ioSeconds, "param_fingerprint": paramFingerprint,
         "mean_reward_last": meanRewardLast, "replica_checks_passed": replicaChecks]
    }
}

/// A whole run: builds the trainer, loops over steps, logs, evaluates and summarizes.
/// Rank 0 alone prints and writes the run directory.
public struct TrainingRun {
    public var config: TrainingConfig
    public var runDirectory: String?
    public var quiet = false

    public init(config: TrainingConfig, runDirectory: String?, quiet: Bool = false) {
        self.config = config; self.runDirectory = runDirectory; self.quiet = quiet
    }

    /// The resolved configuration as a JSON object (snake_case keys).
    public static func configJSON(_ config: TrainingConfig) throws -> Any {
        let data = try JSONEncoder().encode(config)
        return try JSONSerialization.jsonObject(with: data)
    }

    public func run(communicator: any Communicator) throws -> RunSummary {
        let wallStart = Date()
        let trainer = try Trainer(config: config, communicator: communicator)
        let root = communicator.isRoot
        var ioSeconds = 0.0
        let dir: RunDirectory? = try root ? runDirectory.map { try RunDirectory(path: $0) } : nil
        defer { dir?.close() }
        try dir?.writeJSON("config.json", Self.configJSON(config))
        let progress = (root && !quiet) ? ProgressReporter(total: config.steps) : nil
        if root && !quiet {
            print(String(format: "capg: %@ (inclusion %@) K=%d N=%d d=%d B=%d on %d rank(s); random ESR value %.4f, oracle %.4f",
                         config.estimator.rawValue, config.inclusion.rawValue, config.k, config.items, config.dim,
                         config.batchSize, communicator.size, trainer.randomValue, trainer.oracleValue))
        }
        var last = trainer.evaluate()
        var compute = 0.0, allreduce = 0.0, opt = 0.0, lastReward = 0.0, lastIO = 0.0
        for _ in 0..<config.steps {
            let m = try trainer.trainStep()
            compute += m.computeSeconds; allreduce += m.allreduceSeconds; opt += m.optimizerSeconds
            lastReward = m.meanReward
            if let e = m.evaluation { last = e }
            let ioStart = Date()
            if let dir, (m.step + 1) % config.logEvery == 0 || m.evaluation != nil {
                var row: [(String, Any)] = [
                    ("step", m.step + 1), ("mean_reward", m.meanReward), ("grad_norm", m.gradientNorm),
                    ("baseline", m.runningBaseline), ("compute_s", m.computeSeconds),
                    ("allreduce_s", m.allreduceSeconds), ("optimizer_s", m.optimizerSeconds),
                    ("io_s", lastIO),
                ]
                row.append(("value", m.evaluation.map { $0.value as Any } ?? NSNull()))
                row.append(("normalized_value", m.evaluation.map { $0.normalizedValue as Any } ?? NSNull()))
                row.append(("recall", m.evaluation.map { $0.recall as Any } ?? NSNull()))
                try dir.append(row: row)
            }
            progress?.report(step: m.step + 1, reward: m.meanReward, evaluation: m.evaluation, lastEvaluation: last)
            lastIO = Date().timeIntervalSince(ioStart)
            ioSeconds += lastIO
        }
        let summary = RunSummary(
            finalValue: last.value, finalNormalizedValue: last.normalizedValue, recall: last.recall,
            randomValue: trainer.randomValue, oracleValue: trainer.oracleValue, steps: trainer.step,
            ranks: communicator.size, wallSeconds: Date().timeIntervalSince(wallStart),
            computeSeconds: compute, allreduceSeconds: allreduce, optimizerSeconds: opt, ioSeconds: ioSeconds,
            paramFingerprint: SHA256.hex(floats: trainer.parameters), meanRewardLast: lastReward,
            replicaChecks: trainer.replicasChecked)
        try dir?.writeJSON("summary.json", summary.json)
        return summary
    }
}
