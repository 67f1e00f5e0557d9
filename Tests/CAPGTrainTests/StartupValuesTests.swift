import CAPGCore
import XCTest
@testable import CAPGTrain

/// The trainer's start-up values (oracle and random-ESR value, random recall, the LSR
/// favourites of the evaluation queries) equal the plain per-query computation bitwise,
/// whatever the thread count: the batched LSR top-K and the threaded random baseline change
/// only how fast they are found.
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
        let queries = task.queries(ids: ids, evaluation: true)
        let one = Trainer.randomBaselines(evaluator, queries: queries, ids: ids, favourites: favourites, threads: 1)
        for threads in [2, 3] {
            let many = Trainer.randomBaselines(evaluator, queries: queries, ids: ids, favourites: favourites, threads: threads)
            XCTAssertEqual(many, one, "\(threads) threads")
        }
    }
}
