import CAPGCore
import CAPGData
import CAPGTrain
import Foundation

/// Builds the training task named by `config.data`, reading this rank's shard of the data.
/// The training query count (and for OBD the item count and context dimension) come from
/// the data and are written into `config` (so the resolved config, the checkpoints and the
/// model agree). `serving` builds the task a trained checkpoint is used on.
public enum TaskLoader {
    public static func make(config c: inout TrainingConfig, communicator comm: any Communicator, quiet: Bool) throws -> (any TrainingTask)? {
        switch c.data {
        case .synthetic:
            return nil
        case .paper:
            return PaperTask(config: c)
        case .letor:
            let opts = LetorReadOptions(featureCount: c.features, rank: comm.rank, size: comm.size, maxLabel: c.maxLabel)
            var (train, trainStats) = try LetorReader.read(path: c.trainFile, options: opts)
            var (test, testStats) = try LetorReader.read(path: c.testFile, options: opts)
            // Standardize with moments of the whole training file: one allreduce of the sums.
            var moments = FeatureMoments(featureCount: c.features)
            train.features.withUnsafeBufferPointer { moments.accumulate($0, rows: train.documentCount) }
            var packed = moments.packed
            comm.allreduceSum(&packed)
            let standardizer = FeatureMoments(featureCount: c.features, packed: packed).standardizer()
            train.standardize(with: standardizer)
            test.standardize(with: standardizer)
            if comm.isRoot && !quiet {
                print(String(format: "capg: read %@: %d queries, %d documents (this rank keeps %d queries) at %.1f MB/s, %.0f lines/s",
                             c.trainFile, trainStats.queries, trainStats.documents, trainStats.keptQueries,
                             trainStats.megabytesPerSecond, trainStats.linesPerSecond))
                print(String(format: "capg: read %@: %d queries, %d documents at %.1f MB/s",
                             c.testFile, testStats.queries, testStats.documents, testStats.megabytesPerSecond))
            }
            c.queries = trainStats.queries
            return try LetorTask(config: c, train: train, trainQueryTotal: trainStats.queries, test: test,
                                 standardizer: standardizer)
        case .obd:
            return try obdTask(config: &c, report: comm.isRoot && !quiet)
        }
    }

    /// The OBD task: the log, its train/held-out split and the click model fitted on the
    /// training rows (deterministic L-BFGS, so every rank and every later use of a
    /// checkpoint fits the same model). Sets `items`, `context_dim` and `queries` from the log.
    static func obdTask(config c: inout TrainingConfig, report: Bool) throws -> OBDTask {
        let log = try OBDLoader.load(directory: c.obdDir)
        let (trainRows, testRows) = log.split(trainFraction: c.obdTrainFraction)
        c.items = log.itemCount
        c.contextDim = log.userFeatureCount
        c.queries = max(1, trainRows.count)
        let (blocks, l2): (OBDFeatureBlocks, Double) = c.obdClickModel == "full" ? (.all, 1e-2) : ([.itemOneHot, .position], 1e-3)
        let (model, _) = OBDClickModel.fit(log: log, rows: trainRows, blocks: blocks, l2: l2)
        if report {
            let cmp = ClickModelComparison(model: model, log: log, train: trainRows, test: testRows)
            print("capg: OBD log \(c.obdDir): \(log.rowCount) rows, \(log.itemCount) items, \(log.clickCount) clicks; click model \(cmp)")
        }
        let env = OBDEnvironment(log: log, model: model,
                                 config: OBDEnvironmentConfig(position: nil, lsrNoise: c.lsrNoise, seed: c.envSeed))
        return OBDTask(config: c, environment: env, trainRows: trainRows, testRows: testRows)
    }

    /// The task a checkpoint's ESR is evaluated or served on, in one process:
    /// - synthetic: the checkpoint's environment (contexts are generated from their ids);
    /// - letor: the queries of `letorFile` (all of them; `config.testFile` when nil),
    ///   standardized with the checkpoint's stored moments (`data.feature_mean`,
    ///   `data.feature_inv_std`), never with moments of the file itself;
    /// - obd: the checkpoint's log directory (or `obdDir`) and its held-out rows.
    public static func serving(model: ServingModel, letorFile: String? = nil, obdDir: String? = nil) throws -> any TrainingTask {
        var c = model.config
        switch c.data {
        case .synthetic:
            return SyntheticTask(config: c)
        case .paper:
            return PaperTask(config: c)
        case .letor:
            let path = letorFile ?? c.testFile
            guard let standardizer = model.standardizer else { throw ServeError.missingStandardization }
            let read = try LetorReader.read(path: path, options: LetorReadOptions(featureCount: c.features, maxLabel: c.maxLabel))
            var data = read.dataset
            data.standardize(with: standardizer)
            // Serving has no training set: the file plays both parts (only `test` is used).
            return try LetorTask(config: c, train: data, trainQueryTotal: read.statistics.queries, test: data,
                                 standardizer: standardizer)
        case .obd:
            if let obdDir { c.obdDir = obdDir }
            let (items, dim) = (c.items, c.contextDim)
            let task = try obdTask(config: &c, report: false)
            guard task.config.items == items && task.config.contextDim == dim else {
                throw ServeError.dataMismatch("the OBD log in \(c.obdDir) has \(task.config.items) items and \(task.config.contextDim) user features; the checkpoint's model has \(items) and \(dim)")
            }
            return task
        }
    }
}
