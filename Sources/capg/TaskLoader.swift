import CAPGCore
import CAPGData
import CAPGTrain
import Foundation

/// Builds the training task named by `config.data`, reading this rank's shard of the data.
/// The training query count (and for OBD the item count and context dimension) come from
/// the data and are written into `config` (so the resolved config, the checkpoints and the
/// model agree).
enum TaskLoader {
    static func make(config c: inout TrainingConfig, communicator comm: any Communicator, quiet: Bool) throws -> (any TrainingTask)? {
        switch c.data {
        case .synthetic:
            return nil
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
            let log = try OBDLoader.load(directory: c.obdDir)
            let (trainRows, testRows) = log.split(trainFraction: c.obdTrainFraction)
            c.items = log.itemCount
            c.contextDim = log.userFeatureCount
            c.queries = max(1, trainRows.count)
            // Every rank fits the same model on the same rows (deterministic L-BFGS).
            let (blocks, l2): (OBDFeatureBlocks, Double) = c.obdClickModel == "full" ? (.all, 1e-2) : ([.itemOneHot, .position], 1e-3)
            let (model, _) = OBDClickModel.fit(log: log, rows: trainRows, blocks: blocks, l2: l2)
            let cmp = ClickModelComparison(model: model, log: log, train: trainRows, test: testRows)
            if comm.isRoot && !quiet {
                print("capg: OBD log \(c.obdDir): \(log.rowCount) rows, \(log.itemCount) items, \(log.clickCount) clicks; click model \(cmp)")
            }
            let env = OBDEnvironment(log: log, model: model,
                                     config: OBDEnvironmentConfig(position: nil, lsrNoise: c.lsrNoise, seed: c.envSeed))
            return OBDTask(config: c, environment: env, trainRows: trainRows, testRows: testRows)
        }
    }
}
