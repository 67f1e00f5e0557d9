import CAPGCore
import Foundation
import XCTest
@testable import CAPGTrain

/// The phases of `Trainer.trainStep`, each run on its own: the step buffers, the estimate
/// phase against direct per-query estimator calls, the reduce phase against a fake second
/// rank, and the test-only fault injection.
final class TrainStepPhaseTests: XCTestCase {
    func tinyConfig(_ estimator: EstimatorKind = .capg) -> TrainingConfig {
        var c = TrainingConfig()
        c.items = 60; c.dim = 4; c.contextDim = 4; c.k = 5; c.batchSize = 6; c.steps = 10
        c.estimator = estimator; c.baseline = estimator == .vpg ? .mean : .none; c.samples = 2
        c.reward = .expected
        c.evalQueries = 4; c.evalSamples = 1; c.evalEvery = 100
        return c
    }

    /// `prepare` keeps the ∂J/∂s storage when the batch shape is unchanged (no allocation and
    /// no memset: the estimator overwrites every row), resets the per-query slots, and `Rows`
    /// hands out each query's own score and ∂J/∂s rows.
    func testStepBuffersReuseStorageAndSliceRows() {
        var batch = ScoredBatch(ids: [7, 9], queries: [], offsets: [0, 3, 5], scores: [1, 2, 3, 4, 5], saved: [])
        var b = StepBuffers()
        b.prepare(for: batch, trainsESR: true)
        XCTAssertEqual(b.scoreGradient, [0, 0, 0, 0, 0])
        XCTAssertEqual(b.stats.count, 2)
        XCTAssertEqual(b.rollouts.count, 2)
        let storage = b.scoreGradient.withUnsafeBufferPointer { $0.baseAddress }
        b.withRows(of: batch) { rows in
            XCTAssertEqual(Array(rows.scoreRow(1)), [4, 5])
            rows.scoreGradientRow(1)[0] = 8
            rows.stats[1].samples = 3
        }
        XCTAssertEqual(b.scoreGradient, [0, 0, 0, 8, 0])
        XCTAssertEqual(b.stats[1].samples, 3)
        b.prepare(for: batch, trainsESR: true)
        XCTAssertEqual(b.scoreGradient, [0, 0, 0, 8, 0], "same shape: left for the estimator to overwrite")
        XCTAssertEqual(b.scoreGradient.withUnsafeBufferPointer { $0.baseAddress }, storage, "same shape: reused")
        XCTAssertEqual(b.stats[1].samples, 0)
        b.prepare(for: batch, trainsESR: false)
        XCTAssertTrue(b.scoreGradient.isEmpty, "no ESR gradient on a step that does not train the ESR")
        b.recycleScores(of: &batch)
        XCTAssertEqual(b.recycledScores, [1, 2, 3, 4, 5])
        XCTAssertTrue(batch.scores.isEmpty)
    }

    /// The estimate phase on a tiny batch (after the rollouts and rewards phases, on two
    /// worker threads) equals one `[Double]` estimator call per query: bitwise the same
    /// ∂J/∂s rows and the same reward sums, on the fused path and with external rewards.
    /// The ∂J/∂s buffer starts full of NaN (a previous step's rows are not zeroed), so a row
    /// the phases failed to write, e.g. a query without reward, would show.
    func testEstimatePhaseEqualsPerQueryEstimatorCalls() throws {
        for (estimator, external) in [(EstimatorKind.capg, false), (.capg, true), (.vpg, false), (.vpg, true)] {
            let label = "\(estimator) external=\(external)"
            let t = try Trainer(config: tinyConfig(estimator), communicator: SingleProcessCommunicator())
            t.workerThreads = 2
            _ = try t.trainStep()  // a nonzero running baseline for V-PG's mean baseline
            let source = external ? ItemRewards() : nil
            t.rewardSource = source

            let plan = t.plan()
            var buffers = StepBuffers()
            let pass = t.forward(plan, buffers: &buffers)
            buffers.scoreGradient = [Float](repeating: .nan, count: pass.batch.scores.count)
            t.drawRollouts(plan, pass, buffers: &buffers)
            if let source { try t.scoreRollouts(source, plan, pass, buffers: &buffers) }
            let local = t.estimate(plan, pass, buffers: &buffers)

            XCTAssertEqual(plan.fused, !external, label)
            XCTAssertNotEqual(plan.runningBaseline, 0, label)
            var rewardSum = 0.0, samples = 0
            var nonzeroRows = 0
            for qi in 0..<pass.count {
                let range = pass.batch.range(qi)
                let row = pass.batch.scores[range].map(Double.init)
                var rollouts = t.estimator.rollouts(scores: row, query: pass.lateStageQueries[qi], seed: plan.seed,
                                                    step: plan.step, queryID: pass.ids[qi])
                if let source { for m in rollouts.indices { rollouts[m].reward = source.reward(rollouts[m].chosen) } }
                var g = [Double](repeating: 0, count: row.count)
                let stats = t.estimator.accumulate(rollouts: rollouts, scores: row, query: pass.lateStageQueries[qi],
                                                   runningBaseline: plan.runningBaseline, scale: plan.scale, into: &g)
                rewardSum += stats.rewardSum; samples += stats.samples
                XCTAssertEqual(Array(buffers.scoreGradient[range]), g.map { Float($0) }, "\(label) query \(qi)")
                if g.contains(where: { $0 != 0 }) { nonzeroRows += 1 }
            }
            XCTAssertGreaterThan(nonzeroRows, 0, "\(label): a test of all-zero rows proves little")
            XCTAssertEqual(local.rewardSum, rewardSum, label)
            XCTAssertEqual(local.sampleCount, Double(samples), label)
            XCTAssertEqual(samples, pass.count * 2, label)
            XCTAssertNil(local.nonFiniteQuery, label)
            XCTAssertTrue(local.lateStageGradient.isEmpty, "\(label): fixed LSR, no LSR gradient")
        }
    }

    /// The reduce phase sums the flat gradient only on ESR steps, and the one metric
    /// allreduce carries the reward sums, any rank's stop request and the LSR gradient.
    func testReducePhaseCarriesStopRequestAndLateStageGradient() throws {
        let comm = PeerRankCommunicator()
        let t = try Trainer(config: tinyConfig(), communicator: comm)
        var buffers = StepBuffers()
        buffers.gradient = [1, 2]
        let local = LocalStepSums(rewardSum: 3, sampleCount: 4, nonFiniteQuery: nil, lateStageGradient: [0.5, -1])
        func plan(esr: Bool, lsr: Bool) -> StepPlan {
            StepPlan(step: 1, seed: 0, trainsESR: esr, trainsLSR: lsr, externalRewards: false, scale: 1, runningBaseline: 0)
        }

        // The other rank asks to stop; this one does not.
        comm.peerFloat = 0.5
        comm.peerDoubles = [1, 4, 1, 0.25, 0.25]
        t.localStopRequest = { false }
        let r = t.reduce(plan(esr: true, lsr: true), local, buffers: &buffers)
        XCTAssertEqual(comm.sentDoubles.last, [3, 4, 0, 0.5, -1], "one metric vector: sums, stop, ∇φ")
        XCTAssertEqual(r.rewardSum, 4)
        XCTAssertEqual(r.sampleCount, 8)
        XCTAssertEqual(r.meanReward, 0.5)
        XCTAssertTrue(r.stopRequested)
        XCTAssertEqual(r.lateStageGradient, [0.75, -0.75])
        XCTAssertEqual(buffers.gradient, [1.5, 2.5])
        XCTAssertEqual(comm.floatReductions, 1)

        // This rank asks to stop; an LSR-only step does not reduce the (empty) ESR gradient.
        comm.peerDoubles = [0, 0, 0, 0, 0]
        t.localStopRequest = { true }
        let s = t.reduce(plan(esr: false, lsr: true), local, buffers: &buffers)
        XCTAssertTrue(s.stopRequested)
        XCTAssertEqual(s.lateStageGradient, [0.5, -1])
        XCTAssertEqual(comm.floatReductions, 1, "no gradient allreduce on a step that does not train the ESR")
        XCTAssertEqual(comm.doubleReductions, 3, "init's baseline sums and one metric allreduce per step")
    }

    /// `inject_failure` is accepted but not advertised, and fires only at its rank and step,
    /// through the one hook after the estimate phase.
    func testInjectedFaultIsTestOnlyAndFiresAtItsRankAndStep() throws {
        XCTAssertFalse(TrainingConfig.keys.contains("inject_failure"))
        XCTAssertTrue(TrainingConfig.keys.contains("check_every"))
        var c = tinyConfig()
        XCTAssertThrowsError(try c.set("inject_failure", "x")) { XCTAssertTrue("\($0)".contains("RANK:STEP"), "\($0)") }

        try c.set("inject_failure", "1:1")
        let other = try Trainer(config: c, communicator: SingleProcessCommunicator())
        XCTAssertEqual(other.injectedFault, InjectedFault(c))
        for _ in 0..<3 { _ = try other.trainStep() }  // rank 1's fault does not fire on rank 0

        try c.set("inject_failure", "0:1:nan")
        let t = try Trainer(config: c, communicator: SingleProcessCommunicator())
        _ = try t.trainStep()
        let first = t.localQueryIDs(step: 1)[0]
        XCTAssertThrowsError(try t.trainStep()) {
            guard case TrainingError.nonFiniteGradient(rank: 0, step: 1, query: first) = $0 else {
                return XCTFail("\($0)")
            }
        }

        try c.set("inject_failure", "0:0")
        let u = try Trainer(config: c, communicator: SingleProcessCommunicator())
        XCTAssertThrowsError(try u.trainStep()) {
            guard case TrainingError.injected(rank: 0, step: 0) = $0 else { return XCTFail("\($0)") }
        }
    }
}

/// Rewards from the chosen item alone (a deterministic stand-in for an external scorer).
private final class ItemRewards: RewardSource {
    func reward(_ item: Int) -> Double { Double(item % 4) / 3 }
    func rewards(step: Int, items: [RewardRequestItem]) throws -> [Double] { items.map { reward($0.chosen) } }
    func close() {}
}

/// Rank 0 of two, the other rank simulated: each allreduce adds the peer's contribution
/// (when set) and records what this rank sent.
private final class PeerRankCommunicator: Communicator {
    var peerFloat: Float?
    var peerDoubles: [Double]?
    private(set) var sentDoubles: [[Double]] = []
    private(set) var floatReductions = 0
    var doubleReductions: Int { sentDoubles.count }

    var rank: Int { 0 }
    var size: Int { 2 }
    var activity = ""
    func allgather(_ local: [Double]) -> [Double] { local + local }
    func gather(_ local: [Float], root: Int) -> [Float] { local + local }
    func send(_ values: [Float], to: Int) {}
    func receive(count: Int, from: Int) -> [Float] { [Float](repeating: 0, count: count) }
    func split(color: Int, key: Int) -> any Communicator { SingleProcessCommunicator() }
    func allreduceSum(_ buffer: inout [Float]) {
        floatReductions += 1
        if let p = peerFloat { for i in buffer.indices { buffer[i] += p } }
    }
    func allreduceSum(_ buffer: inout [Double]) {
        sentDoubles.append(buffer)
        if let p = peerDoubles, p.count == buffer.count { for i in buffer.indices { buffer[i] += p[i] } }
    }
    func allreduceMax(_ buffer: inout [Double]) {}
    func barrier() {}
    func broadcast(_ buffer: inout [UInt8], root: Int) {}
    func abort(message: String, code: Int32) -> Never { fatalError(message) }
}
