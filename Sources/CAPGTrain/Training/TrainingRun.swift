import CAPGCore
import Foundation

/// The final figures of a run, as written to `summary.json`. Times and counts cover the
/// whole run, across resumed segments.
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
    /// False when the run stopped early on a stop signal (it wrote a checkpoint to resume from).
    public var completed = true
    /// The step this segment resumed from (nil: it started at step 0).
    public var resumedFromStep: Int?
    /// Job segments so far (1 + resumes).
    public var segments = 1
    /// Checkpoints this segment wrote, and their mean write throughput.
    public var checkpointsWritten = 0
    public var checkpointWriteMBPerSecond = 0.0
    /// NDCG@K of the ESR's ranking at the last evaluation (LETOR data only).
    public var ndcg: Double?
    /// The process grid (item shards S, query groups Q = P/S).
    public var itemShards = 1
    public var queryGroups = 1
    /// Peak resident memory of the largest rank (bytes), and the bytes rank 0 contributed to
    /// collectives in its last step.
    public var peakRSSBytesMaxRank = 0
    public var commBytesPerStep = 0
    /// Seconds from the start of the run (building the task and trainer, the start-up values,
    /// the restore, the first evaluation) until the first step of this segment began; the
    /// whole segment when it ran no step.
    public var startupSeconds = 0.0

    public var json: [String: Any] {
        ["final_value": finalValue, "final_normalized_value": finalNormalizedValue, "recall": recall,
         "random_value": randomValue, "oracle_value": oracleValue, "steps": steps, "ranks": ranks,
         "wall_seconds": wallSeconds, "compute_seconds": computeSeconds, "allreduce_seconds": allreduceSeconds,
         "optimizer_seconds": optimizerSeconds, "io_seconds": ioSeconds, "param_fingerprint": paramFingerprint,
         "mean_reward_last": meanRewardLast, "replica_checks_passed": replicaChecks,
         "completed": completed, "resumed_from_step": resumedFromStep.map { $0 as Any } ?? NSNull(),
         "segments": segments, "checkpoints_written": checkpointsWritten,
         "checkpoint_write_mb_per_s": checkpointWriteMBPerSecond, "ndcg": ndcg.map { $0 as Any } ?? NSNull(),
         "item_shards": itemShards, "query_groups": queryGroups, "peak_rss_bytes_max_rank": peakRSSBytesMaxRank,
         "comm_bytes_per_step": commBytesPerStep, "startup_seconds": startupSeconds]
    }
}

/// A whole run: builds the trainer (restoring a checkpoint's state if resuming), loops over
/// steps, logs, evaluates, checkpoints and summarizes. Rank 0 alone prints and writes the
/// run directory and the checkpoints.
///
/// Checkpoints (when a sink is given) are written after every `checkpoint_every`-th step,
/// after the last step, and after the step at which a stop signal was seen on any rank;
/// the run then returns with `completed == false`.
public struct TrainingRun {
    public var config: TrainingConfig
    public var runDirectory: String?
    public var quiet = false
    /// State to continue from (already verified and identical on every rank).
    public var resume: TrainingSnapshot?
    /// With `resume`: its tensors, streamed from world rank 0 (the item-sharded resume;
    /// `resume.state` then carries the scalars only).
    public var resumeTensors: CheckpointTensorStream?
    /// Where rank 0 writes checkpoints (nil on other ranks, or for no checkpoints).
    public var checkpointSink: (any CheckpointSink)?
    /// Poll `StopSignal` once per step (install the handler first).
    public var stopOnSignal = false
    /// What to train on (nil: the synthetic environment of `config`).
    public var task: (any TrainingTask)?
    /// Training rewards from an external scorer (nil: the environment's built-in reward);
    /// closed when the run ends, also on an error.
    public var rewardSource: (any RewardSource)?

    public init(config: TrainingConfig, runDirectory: String?, quiet: Bool = false,
                resume: TrainingSnapshot? = nil, resumeTensors: CheckpointTensorStream? = nil,
                checkpointSink: (any CheckpointSink)? = nil, stopOnSignal: Bool = false,
                task: (any TrainingTask)? = nil, rewardSource: (any RewardSource)? = nil) {
        self.config = config; self.runDirectory = runDirectory; self.quiet = quiet
        self.resume = resume; self.resumeTensors = resumeTensors; self.checkpointSink = checkpointSink; self.stopOnSignal = stopOnSignal
        self.task = task; self.rewardSource = rewardSource
    }

    /// The resolved configuration as a JSON object (snake_case keys).
    public static func configJSON(_ config: TrainingConfig) throws -> Any {
        let data = try JSONEncoder().encode(config)
        return try JSONSerialization.jsonObject(with: data)
    }

    /// `error` extended by the outcome of one last checkpoint attempt (rank 0, which alone
    /// writes; in data-parallel mode its state is the whole state).
    static func withFinalCheckpoint(_ error: Error, sink: (any CheckpointSink)?, step: Int,
                                    snapshot: () -> TrainingSnapshot) -> Error {
        guard let sink else { return error }
        do {
            let report = try sink.write(snapshot())
            return TrainingError.io("\(error); a final checkpoint of step \(step) was written to \(report.path) (resume with --resume auto once the disk has room)")
        } catch let second {
            return TrainingError.io("\(error); the final checkpoint could not be written either: \(second)")
        }
    }

    public func run(communicator: any Communicator) throws -> RunSummary {
        let wallStart = Date()
        defer { rewardSource?.close() }
        let trainer: any TrainingEngine = config.itemShards > 1
            ? try ShardedTrainer(config: config, world: communicator)
            : try Trainer(config: config, task: task ?? embeddedTask(config: config), communicator: communicator)
        if rewardSource != nil { trainer.rewardSource = rewardSource }
        if stopOnSignal { trainer.localStopRequest = { StopSignal.received != nil } }
        var progress = RunProgress()
        if let resume {
            if let resumeTensors {
                try trainer.restore(resume.state, streamed: resumeTensors)
            } else {
                try trainer.restore(resume.state)
            }
            progress = resume.progress
            progress.segments += 1
        }
        let root = communicator.isRoot
        let dir: RunDirectory? = try root ? runDirectory.map { try RunDirectory(path: $0, resumingAfter: resume?.state.step) } : nil
        defer { dir?.close() }
        try dir?.writeJSON("config.json", Self.configJSON(config))
        let reporter = (root && !quiet) ? ProgressReporter(total: config.steps) : nil
        if root && !quiet {
            let grid = config.itemShards > 1 ? " (\(communicator.size / config.itemShards) query group(s) × \(config.itemShards) item shards)" : ""
            print(String(format: "capg: %@ (inclusion %@) K=%d N=%d d=%d B=%d on %d rank(s)%@; random ESR value %.4f, oracle %.4f",
                         config.estimator.rawValue, config.inclusion.rawValue, config.k, config.items, config.dim,
                         config.batchSize, communicator.size, grid, trainer.randomValue, trainer.oracleValue))
        }
        // The last evaluation: carried over from the checkpoint when it was computed on the
        // same evaluation set, else evaluated now (the value of the restored parameters).
        var last: StepMetrics.Evaluation
        if let resume, let e = resume.progress.lastEvaluation,
           resume.config.evalQueries == config.evalQueries, resume.config.evalSamples == config.evalSamples {
            last = e
        } else {
            last = trainer.evaluate()
            progress.lastEvaluation = last
            progress.lastEvaluationStep = trainer.step
        }
        var lastIO = 0.0, written = 0, writeBytes = 0, writeSeconds = 0.0, stopped = false
        let priorWall = progress.wallSeconds

        let dataTensors = task?.dataTensors ?? []
        func snapshot(_ state: TrainerState? = nil) -> TrainingSnapshot {
            var p = progress
            p.wallSeconds = priorWall + Date().timeIntervalSince(wallStart)
            return TrainingSnapshot(config: config, ranks: communicator.size, state: state ?? trainer.exportState(), progress: p,
                                    dataTensors: dataTensors)
        }

        var firstStepAt: Date? = nil
        while trainer.step < config.steps {
            if firstStepAt == nil { firstStepAt = Date() }
            communicator.activity = "step \(trainer.step + 1) of \(config.steps)"
            let m = try trainer.trainStep()
            progress.computeSeconds += m.computeSeconds; progress.allreduceSeconds += m.allreduceSeconds
            progress.optimizerSeconds += m.optimizerSeconds
            progress.meanRewardLast = m.meanReward
            if let e = m.evaluation { last = e; progress.lastEvaluation = e; progress.lastEvaluationStep = trainer.step }
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
                row.append(("ndcg", m.evaluation.flatMap { $0.ndcg }.map { $0 as Any } ?? NSNull()))
                do {
                    try dir.append(row: row)
                } catch {
                    // A full disk or vanished directory: keep the training state if possible.
                    // (Only where rank 0 holds the whole state: a sharded export is collective.)
                    throw Self.withFinalCheckpoint(error, sink: trainer.exportsLocally ? checkpointSink : nil,
                                                   step: trainer.step, snapshot: { snapshot() })
                }
            }
            reporter?.report(step: m.step + 1, reward: m.meanReward, evaluation: m.evaluation, lastEvaluation: last)
            let due = m.stopRequested || trainer.step == config.steps
                || (config.checkpointEvery > 0 && trainer.step % config.checkpointEvery == 0)
            // Every rank takes part (the sharded engine streams its shards to rank 0's writer).
            if due {
                communicator.activity = "writing the checkpoint of step \(trainer.step)"
                if let report = try trainer.writeCheckpoint(checkpointSink, snapshot: { snapshot($0) }) {
                    written += 1; writeBytes += report.bytes; writeSeconds += report.seconds
                    if !quiet {
                        print(String(format: "checkpoint: step %d → %@ (%.1f MB in %.3f s, %.0f MB/s)", trainer.step, report.path,
                                     Double(report.bytes) / 1e6, report.seconds, report.megabytesPerSecond))
                    }
                }
            }
            lastIO = Date().timeIntervalSince(ioStart)
            progress.ioSeconds += lastIO
            if m.stopRequested { stopped = true; break }
        }
        var summary = RunSummary(
            finalValue: last.value, finalNormalizedValue: last.normalizedValue, recall: last.recall,
            randomValue: trainer.randomValue, oracleValue: trainer.oracleValue, steps: trainer.step,
            ranks: communicator.size, wallSeconds: priorWall + Date().timeIntervalSince(wallStart),
            computeSeconds: progress.computeSeconds, allreduceSeconds: progress.allreduceSeconds,
            optimizerSeconds: progress.optimizerSeconds, ioSeconds: progress.ioSeconds,
            paramFingerprint: trainer.parameterFingerprint(), meanRewardLast: progress.meanRewardLast,
            replicaChecks: trainer.replicasChecked)
        summary.completed = !stopped
        summary.ndcg = last.ndcg
        summary.resumedFromStep = resume?.state.step
        summary.segments = progress.segments
        summary.checkpointsWritten = written
        summary.checkpointWriteMBPerSecond = writeSeconds > 0 ? Double(writeBytes) / 1e6 / writeSeconds : 0
        summary.itemShards = config.itemShards
        summary.queryGroups = communicator.size / max(1, config.itemShards)
        summary.commBytesPerStep = trainer.commBytesPerStep
        summary.startupSeconds = (firstStepAt ?? Date()).timeIntervalSince(wallStart)
        var rss = [Double(PeakMemory.residentBytes())]
        communicator.allreduceMax(&rss)
        summary.peakRSSBytesMaxRank = Int(rss[0])
        try dir?.writeJSON("summary.json", summary.json)
        return summary
    }
}
