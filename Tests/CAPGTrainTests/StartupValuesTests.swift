import CAPGCore
import XCTest
@testable import CAPGTrain

/// The trainer's start-up values (oracle and random-ESR value, random recall, the LSR
/// favourites of the evaluation queries) equal the plain per-query computation bitwise:
/// the batched LSR top-K changes only how fast they are found.
final class StartupValuesTests: XCTestCase {
    func testStartupValuesEqualPlainComputation() throws {
        var c = TrainingConfig()
        c.items = 3000; c.dim = 8; c.contextDim = 6; c.k = 10; c.batchSize = 8; c.evalQueries = 70; c.evalSamples = 3
        let task = SyntheticTask(config: c)
        let lsr = LateStageRanker(temperature: c.lsrTemperature)
        let evaluator = PolicyEvaluator(k: c.k, lsr: lsr, samples: c.evalSamples, seed: c.envSeed)
        let ids = task.evaluationIDs(rank: 0, size: 1)
        var favourites: [Int] = []
        var rnd = 0.0, rec = 0.0, orc = 0.0
        for (i, q) in task.queries(ids: ids, evaluation: true).enumerated() {
            let fav = lsr.favourite(query: q)
            favourites.append(fav)
            let r = evaluator.randomBaseline(query: q, queryID: ids[i], favourite: fav)
            rnd += r.value; rec += r.recall; orc += evaluator.oracle(query: q).value
        }
        let count = Double(ids.count)
        let t = try Trainer(config: c, task: task, communicator: SingleProcessCommunicator())
        XCTAssertEqual(t.evalFavourites, favourites)
        XCTAssertEqual(t.oracleValue, orc / count)
        XCTAssertEqual(t.randomValue, rnd / count)
        XCTAssertEqual(t.randomRecall, rec / count)
    }

    /// The evaluation (run at start-up and every eval_every steps) spreads its queries over
    /// the worker threads; its value, recall and nDCG are bitwise the same for 1, 2 and 3
    /// threads, and equal the plain per-query sum.
    func testEvaluationIsBitwiseIndependentOfThreads() throws {
        var c = TrainingConfig()
        c.items = 2000; c.dim = 8; c.contextDim = 6; c.k = 10; c.batchSize = 8; c.evalQueries = 70; c.evalSamples = 2
        let task = SyntheticTask(config: c)
        let t = try Trainer(config: c, task: task, communicator: SingleProcessCommunicator())
        t.workerThreads = 1
        let one = t.evaluate()
        for threads in [2, 3] {
            t.workerThreads = threads
            let many = t.evaluate()
            XCTAssertEqual(many.value.bitPattern, one.value.bitPattern, "\(threads) threads")
            XCTAssertEqual(many.recall.bitPattern, one.recall.bitPattern, "\(threads) threads")
        }
        let lsr = LateStageRanker(temperature: c.lsrTemperature)
        let evaluator = PolicyEvaluator(k: c.k, lsr: lsr, samples: c.evalSamples, seed: c.envSeed)
        let ids = task.evaluationIDs(rank: 0, size: 1)
        var plain = EvaluationSums()
        let batch = task.forward(parameters: task.initialParameters(), ids: ids, evaluation: true)
        for (i, q) in batch.queries.enumerated() {
            let row = batch.range(i).map { Double(batch.scores[$0]) }
            plain = plain + evaluator.evaluate(scores: row, query: q, queryID: ids[i], favourite: t.evalFavourites[i])
        }
        XCTAssertEqual(one.value, plain.value / plain.count, accuracy: 1e-12)
        XCTAssertEqual(one.recall, plain.recall / plain.count, accuracy: 1e-12)
    }
}
