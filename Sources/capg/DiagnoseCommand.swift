import ArgumentParser
import CAPGCheckpoint
import CAPGCore
import CAPGServe
import CAPGTrain
import Foundation

/// `capg diagnose RUN_DIR|CKPT... [--estimators …] [--draws R] [--contexts C] [--threshold τ]`.
struct DiagnoseCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diagnose",
        abstract: "Gradient variance, cosine to the exact gradient and vanishing-credit fraction of each estimator at every checkpoint of a training trajectory.",
        discussion: """
        Train the trajectory first with checkpoints every T steps on a world small enough for \
        exact enumeration (N!/(N−K)! ≤ 200000), e.g. `capg train --data paper --items 16 --k 4 \
        --checkpoint-every 100 --keep-checkpoints 1000 --run-dir R`, then `capg diagnose R`. \
        At each checkpoint (and at the initialization, step 0, unless --no-initial) every \
        estimator is measured on the first --contexts evaluation contexts with --draws \
        independent draws each (keys fixed by --seed: the same draws at every checkpoint): \
        variance_scores / variance_params = tr Cov of one draw (scores / two-tower parameters), \
        variance_batch_params = tr Cov of the batch-mean over the contexts, cosine_to_exact = \
        mean over contexts of cos(mean estimate, exact gradient), cosine_pooled = the same for \
        the concatenated contexts, snr = pooled signal-to-noise ratio of one draw, vanishing_fraction = share of rewarded draws whose estimate \
        has ‖ĝ‖ ≤ threshold·|r| (credit vanished: for CA-PG the chosen item was surely in S; \
        also at 1e-2 and 1e-1, with the 10%/50% quantiles of ‖ĝ‖/|r|), \
        exact_value = mean exact V. Prints one JSON object per line (step, estimator).
        """)

    @Argument(help: "Run directories (their checkpoints/ folder) or checkpoint files.")
    var paths: [String]
    @Option(help: "Comma-separated estimators: vpg, vpg-swr, capg, top1, topk; capg:INCLUSION picks CA-PG's inclusion model (default: the run's).")
    var estimators: String = "vpg,vpg-swr,capg,top1"
    @Option(help: "Independent draws per context.")
    var draws: Int = 200
    @Option(help: "Evaluation contexts to average over.")
    var contexts: Int = 16
    @Option(help: "Relative threshold τ of the vanishing-credit test.")
    var threshold: Double = GradientVariance.defaultVanishingThreshold
    @Option(help: "Seed of the diagnostic draws.")
    var seed: UInt64 = 12345
    @Flag(name: .customLong("no-initial"), help: "Do not measure the initialization (step 0).")
    var noInitial = false

    func validate() throws {
        if draws < 2 { throw ValidationError("--draws must be ≥ 2 (got \(draws))") }
        if contexts < 1 { throw ValidationError("--contexts must be ≥ 1 (got \(contexts))") }
        if !(threshold >= 0) { throw ValidationError("--threshold must be ≥ 0 (got \(threshold))") }
    }

    /// The checkpoint files named by `paths`, each run's in step order.
    static func checkpointFiles(_ paths: [String]) throws -> [String] {
        let fm = FileManager.default
        var out = [String]()
        for p in paths {
            var isDir: ObjCBool = false
            guard fm.fileExists(atPath: p, isDirectory: &isDir) else { throw ValidationError("\(p): no such file or directory") }
            if !isDir.boolValue { out.append(p); continue }
            let dir = fm.fileExists(atPath: p + "/checkpoints") ? p + "/checkpoints" : p
            let files = try fm.contentsOfDirectory(atPath: dir)
                .compactMap { name in CheckpointFormat.step(fromFileName: name).map { (step: $0, path: dir + "/" + name) } }
                .sorted { $0.step < $1.step }
            if files.isEmpty { throw ValidationError("\(dir): no checkpoint files (ckpt-*.capgckpt)") }
            out += files.map(\.path)
        }
        return out
    }

    func run() throws {
        do {
            let files = try Self.checkpointFiles(paths)
            var initialDone = Set<String>()
            for file in files {
                let model = try ServingModel(checkpoint: file)
                let config = model.config
                let specs = try estimators.split(separator: ",").map {
                    try DiagnosedEstimator(parsing: String($0), defaultInclusion: config.inclusion)
                }
                let diag = TrajectoryDiagnostics(estimators: specs, draws: draws, contexts: contexts, seed: seed,
                                                 vanishingThreshold: threshold)
                let task = try TrajectoryDiagnostics.task(config: config)
                var points: [(step: Int, params: [Float])] = []
                // The initialization is the same for every checkpoint of a run: once per folder.
                let key = (file as NSString).deletingLastPathComponent
                if !noInitial && !initialDone.contains(key) {
                    initialDone.insert(key)
                    points.append((0, task.initialParameters()))
                }
                points.append((model.step, model.parameters))
                for (step, params) in points {
                    for row in try diag.measure(config: config, task: task, parameters: params, step: step) {
                        var obj = row.json
                        obj["checkpoint"] = step == model.step ? file : NSNull()
                        obj["trajectory_estimator"] = config.estimator.rawValue
                        obj["trajectory_inclusion"] = config.inclusion.rawValue
                        obj["trajectory_lr"] = config.lr
                        obj["trajectory_seed"] = Int(config.seed)
                        obj["items"] = config.items
                        obj["lsr_optimality"] = config.lsrOptimality.rawValue
                        obj["draws"] = draws
                        obj["contexts"] = contexts
                        obj["threshold"] = threshold
                        let bytes = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys])
                        FileHandle.standardOutput.write(bytes + Data("\n".utf8))
                    }
                }
            }
        } catch let e as ValidationError {
            throw e
        } catch {
            FileHandle.standardError.write(Data("capg: diagnose: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
