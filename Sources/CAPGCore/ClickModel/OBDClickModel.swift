import Foundation

/// A logistic-regression click model for an `OBDLog`: `P(click | u, a, p) = σ(⟨w, φ(u,a,p)⟩)`
/// with `φ` from `OBDClickFeatures`, fitted on the training rows with L2 penalty λ.
public struct OBDClickModel: Sendable {
    public let features: OBDClickFeatures
    public let regression: LogisticRegression
    public let l2: Double

    public init(features: OBDClickFeatures, regression: LogisticRegression, l2: Double) {
        precondition(regression.featureCount == features.count)
        self.features = features; self.regression = regression; self.l2 = l2
    }

    /// Fits on `rows` of `log` (cost: L-BFGS iterations × 4·|rows|·p flops).
    public static func fit(log: OBDLog, rows: Range<Int>, blocks: OBDFeatureBlocks, l2: Double,
                           optimizer: LBFGS = LBFGS()) -> (model: OBDClickModel, result: LBFGS.Result) {
        let f = OBDClickFeatures(blocks: blocks, log: log)
        let (x, y) = f.design(log: log, rows: rows)
        let (reg, result) = LogisticRegression.fit(design: x, labels: y, rows: rows.count, columns: f.count,
                                                   l2: l2, optimizer: optimizer)
        return (OBDClickModel(features: f, regression: reg, l2: l2), result)
    }

    /// Click probability of showing `item` to the user of logged row `row` at `position`.
    public func probability(log: OBDLog, row: Int, item: Int, position: Int) -> Double {
        var phi = [Float](repeating: 0, count: features.count)
        return phi.withUnsafeMutableBufferPointer { b in
            features.write(log: log, row: row, item: item, position: position, into: b)
            return regression.probability(UnsafeBufferPointer(b))
        }
    }

    /// Mean held-out log-likelihood on `rows` (per logged row; higher is better).
    public func meanLogLikelihood(log: OBDLog, rows: Range<Int>) -> Double {
        let (x, y) = features.design(log: log, rows: rows)
        return regression.meanLogLikelihood(design: x, labels: y, rows: rows.count)
    }
}

/// Held-out comparison of a click model with the constant-rate model `p = mean click of the
/// training rows` (both as mean log-likelihood per row on the test rows).
public struct ClickModelComparison: Sendable, Equatable, CustomStringConvertible {
    public var trainRows: Int, testRows: Int, trainClicks: Int, testClicks: Int
    public var modelLogLikelihood: Double
    public var constantLogLikelihood: Double
    /// `modelLogLikelihood − constantLogLikelihood` (> 0: the model predicts better).
    public var lift: Double { modelLogLikelihood - constantLogLikelihood }

    public init(model: OBDClickModel, log: OBDLog, train: Range<Int>, test: Range<Int>) {
        trainRows = train.count; testRows = test.count
        trainClicks = Int(log.clicks[train].reduce(0, +)); testClicks = Int(log.clicks[test].reduce(0, +))
        modelLogLikelihood = model.meanLogLikelihood(log: log, rows: test)
        let rate = Double(trainClicks) / Double(max(1, trainRows))
        constantLogLikelihood = LogisticRegression.constantRateLogLikelihood(rate: rate, labels: Array(log.clicks[test]))
    }

    public var description: String {
        String(format: "held-out mean log-likelihood %.6f (model) vs %.6f (constant rate), lift %+.6f; train %d rows/%d clicks, test %d rows/%d clicks",
               modelLogLikelihood, constantLogLikelihood, lift, trainRows, trainClicks, testRows, testClicks)
    }
}
