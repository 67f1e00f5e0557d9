import XCTest
@testable import CAPGCore

final class ModelTests: XCTestCase {
    /// Forward GEMMs and backward GEMMs against naive double-precision loops.
    func testTwoTowerForwardBackwardMatchNaiveLoops() {
        let shape = TwoTowerShape(items: 13, embeddingDim: 4, contextDim: 3)
        let esr = TwoTowerESR(shape: shape)
        var p = esr.initialParameters(seed: 3, initScale: 1)
        for i in 0..<shape.items { p[shape.bOffset + i] = Float(i) * 0.01 }
        let b = 5
        let x = randomScores(b * 3, seed: 1).map(Float.init)
        let gS = randomScores(b * 13, seed: 2).map(Float.init)
        var u = [Float](repeating: 0, count: b * 4), s = [Float](repeating: 0, count: b * 13)
        var grad = [Float](repeating: 0, count: shape.parameterCount), scratch = [Float](repeating: 0, count: b * 4)
        p.withUnsafeBufferPointer { pb in x.withUnsafeBufferPointer { xb in
            u.withUnsafeMutableBufferPointer { ub in s.withUnsafeMutableBufferPointer { sb in
                esr.forward(parameters: pb, contexts: xb, batch: b, user: ub, scores: sb) } }
            u.withUnsafeBufferPointer { ub in gS.withUnsafeBufferPointer { gb in
                grad.withUnsafeMutableBufferPointer { out in scratch.withUnsafeMutableBufferPointer { sc in
                    esr.backward(parameters: pb, contexts: xb, user: ub, scoreGradient: gb, batch: b, gradient: out, scratch: sc) } } } }
        } }
        func W(_ r: Int, _ c: Int) -> Double { Double(p[shape.wOffset + r * 3 + c]) }
        func E(_ i: Int, _ j: Int) -> Double { Double(p[shape.eOffset + i * 4 + j]) }
        var gW = [Double](repeating: 0, count: 12), gE = [Double](repeating: 0, count: 52), gb = [Double](repeating: 0, count: 13)
        for r in 0..<b {
            let uu = (0..<4).map { j in (0..<3).reduce(0.0) { $0 + W(j, $1) * Double(x[r * 3 + $1]) } }
            for i in 0..<13 {
                let si = (0..<4).reduce(0.0) { $0 + uu[$1] * E(i, $1) } + Double(p[shape.bOffset + i])
                XCTAssertEqual(Double(s[r * 13 + i]), si, accuracy: 1e-5)
                let g = Double(gS[r * 13 + i])
                gb[i] += g
                for j in 0..<4 {
                    gE[i * 4 + j] += g * uu[j]
                    for c in 0..<3 { gW[j * 3 + c] += g * E(i, j) * Double(x[r * 3 + c]) }
                }
            }
        }
        for i in 0..<12 { XCTAssertEqual(Double(grad[shape.wOffset + i]), gW[i], accuracy: 1e-4) }
        for i in 0..<52 { XCTAssertEqual(Double(grad[shape.eOffset + i]), gE[i], accuracy: 1e-4) }
        for i in 0..<13 { XCTAssertEqual(Double(grad[shape.bOffset + i]), gb[i], accuracy: 1e-4) }
    }

    func testAdamFirstStepMovesEachCoordinateByLearningRate() {
        var adam = Adam(parameterCount: 3, learningRate: 0.1)
        var p: [Float] = [0, 1, 2]
        adam.ascend(parameters: &p, gradient: [2, -0.5, 0])
        // First Adam step: m̂ = g, v̂ = g², so Δ = η·sign(g) (up to ε).
        XCTAssertEqual(p[0], 0.1, accuracy: 1e-6)
        XCTAssertEqual(p[1], 0.9, accuracy: 1e-6)
        XCTAssertEqual(p[2], 2, accuracy: 1e-6)
        XCTAssertEqual(adam.updates, 1)
    }

    func testSGDAscends() {
        var sgd = SGD(learningRate: 0.5)
        var p: [Float] = [1, 1]
        sgd.ascend(parameters: &p, gradient: [2, -4])
        XCTAssertEqual(p, [2, -1])
    }

    func testLateStageRanker() {
        let q = TableQuery(q: [0.1, 0.9, 0.5], l: [0.0, 2.0, 1.0])
        let argmax = LateStageRanker(temperature: 0)
        XCTAssertEqual(argmax.probabilities(candidates: [0, 2], query: q), [0, 1])
        XCTAssertEqual(argmax.favourite(query: q), 1)
        XCTAssertEqual(argmax.setValue(candidates: [0, 1, 2], query: q), 0.9, accuracy: 1e-15)
        let soft = LateStageRanker(temperature: 1)
        let p = soft.probabilities(candidates: [0, 1], query: q)
        XCTAssertEqual(p[1], 1 / (1 + exp(-2)), accuracy: 1e-14)
    }

    func testSyntheticEnvironmentIsDeterministicAndBounded() {
        var c = SyntheticConfig(); c.items = 200
        let a = SyntheticEnvironment(config: c), b = SyntheticEnvironment(config: c)
        let qa = a.query(id: 42), qb = b.query(id: 42)
        XCTAssertEqual(qa.context, qb.context)
        for i in 0..<200 {
            XCTAssertEqual(qa.expectedReward(of: i), qb.expectedReward(of: i))
            XCTAssertEqual(qa.lateStageScore(of: i), qb.lateStageScore(of: i))
            XCTAssert(qa.expectedReward(of: i) > 0 && qa.expectedReward(of: i) < 1)
        }
        XCTAssertNotEqual(a.query(id: 43).context, qa.context)
    }
}
