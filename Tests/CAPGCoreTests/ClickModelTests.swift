import Foundation
import XCTest
@testable import CAPGCore

final class ClickModelTests: XCTestCase {
    /// Synthetic logistic data with known weights: the fit recovers them and beats the
    /// constant-rate model on held-out rows.
    func testLogisticRegressionRecoversKnownWeights() {
        let truth: [Double] = [-1.0, 1.2, -0.7, 0.5, 0.0]
        let p = truth.count, nTrain = 6000, nTest = 3000
        var stream = RandomStream(RandomKey(seed: 42, purpose: .variance))
        func sample(_ n: Int) -> ([Float], [Float]) {
            var x = [Float](), y = [Float]()
            for _ in 0..<n {
                var row: [Float] = [1]
                for _ in 1..<p { row.append(Float(stream.normal())) }
                let z = zip(row, truth).reduce(0.0) { $0 + Double($1.0) * $1.1 }
                x += row
                y.append(stream.bernoulli(LogisticRegression.sigmoid(z)) ? 1 : 0)
            }
            return (x, y)
        }
        let (xTr, yTr) = sample(nTrain), (xTe, yTe) = sample(nTest)
        let (model, result) = LogisticRegression.fit(design: xTr, labels: yTr, rows: nTrain, columns: p, l2: 1e-5)
        XCTAssertTrue(result.converged, "L-BFGS did not converge: \(result)")
        for j in 0..<p { XCTAssertEqual(model.weights[j], truth[j], accuracy: 0.12, "weight \(j)") }
        let rate = Double(yTr.reduce(0, +)) / Double(nTrain)
        let ll = model.meanLogLikelihood(design: xTe, labels: yTe, rows: nTest)
        let llConst = LogisticRegression.constantRateLogLikelihood(rate: rate, labels: yTe)
        XCTAssertGreaterThan(ll, llConst + 0.05)
        // Strong L2 shrinks everything but the (unpenalized) intercept towards 0.
        let (shrunk, _) = LogisticRegression.fit(design: xTr, labels: yTr, rows: nTrain, columns: p, l2: 10)
        for j in 1..<p { XCTAssertLessThan(abs(shrunk.weights[j]), 0.1) }
    }

    /// A tiny OBD-shaped log: the feature map's layout and the OBD environment's queries.
    func testOBDFeatureMapAndQuery() {
        let log = OBDLog(itemCount: 3, positionCount: 2, userFeatureNames: ["u=a", "u=b"], itemFeatureNames: ["price", "c=x"],
                         userFeatures: [1, 0, 0, 1], affinities: [0, 1, 2, 0, 0, 0],
                         itemFeatures: [0.5, 1, -0.5, 0, 2, 1], itemIDs: [2, 0], positions: [1, 0], clicks: [1, 0])
        let f = OBDClickFeatures(blocks: .all, log: log)
        XCTAssertEqual(f.count, 1 + 3 + 2 + 2 + 1 + 2 + 4)
        var phi = [Float](repeating: -9, count: f.count)
        phi.withUnsafeMutableBufferPointer { f.write(log: log, row: 0, item: 2, position: 1, into: $0) }
        XCTAssertEqual(phi, [1, 0, 0, 1, 0, 1, 1, 0, 2, 2, 1, 2, 1, 0, 0])
        let (x, y) = f.design(log: log, rows: 0..<2)
        XCTAssertEqual(Array(x[0..<f.count]), phi)
        XCTAssertEqual(y, [1, 0])
        let weights = (0..<f.count).map { Double($0) * 0.01 - 0.05 }
        let model = OBDClickModel(features: f, regression: LogisticRegression(weights: weights), l2: 0)
        let env = OBDEnvironment(log: log, model: model, config: OBDEnvironmentConfig(position: nil, lsrNoise: 0))
        let q = env.query(row: 1)
        XCTAssertEqual(q.itemCount, 3)
        let expected = (model.probability(log: log, row: 1, item: 1, position: 0) + model.probability(log: log, row: 1, item: 1, position: 1)) / 2
        XCTAssertEqual(q.expectedReward(of: 1), expected, accuracy: 1e-12)
        XCTAssertEqual(q.lateStageScore(of: 1), q.expectedReward(of: 1))
        let at0 = OBDEnvironment(log: log, model: model, config: OBDEnvironmentConfig(position: 0, lsrNoise: 0.1)).query(row: 1)
        XCTAssertEqual(at0.expectedReward(of: 2), model.probability(log: log, row: 1, item: 2, position: 0), accuracy: 1e-12)
        XCTAssertNotEqual(at0.lateStageScore(of: 2), at0.expectedReward(of: 2))
        XCTAssertEqual(log.split(trainFraction: 0.5).train, 0..<1)
    }
}
