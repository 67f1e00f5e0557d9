import XCTest
@testable import CAPGCore

/// `GEMM.sgemm`'s own tiling: the shape-only rule, results bitwise independent of the thread
/// count, and each split against a double-precision reference.
final class GEMMTests: XCTestCase {
    /// The step's three reference-size products take the splits the rule promises, and the
    /// tiles of every split cover the cut side exactly once, in order.
    func testTilingRuleOnTheStepShapes() {
        let forward = GEMMTiling(m: 256, n: 100_000, k: 64)
        XCTAssertEqual(forward.split, .columns)
        XCTAssertEqual(forward.width, 1600)
        XCTAssertEqual(forward.count, 63)
        XCTAssertEqual(GEMMTiling(m: 100_000, n: 64, k: 256).split, .rows)
        XCTAssertEqual(GEMMTiling(m: 256, n: 64, k: 100_000).split, .depth)
        XCTAssertEqual(GEMMTiling(m: 128, n: 1000, k: 10).split, .none, "the paper setting's forward is one call")
        XCTAssertEqual(GEMMTiling(m: 1 << 40, n: 1 << 40, k: 1 << 40).split, .columns, "overflowing work counts as big")
        for tiling in [forward, GEMMTiling(m: 3000, n: 8, k: 512), GEMMTiling(m: 8, n: 8, k: 40_001)] {
            var next = 0
            for t in 0..<tiling.count {
                let r = tiling.range(t)
                XCTAssertEqual(r.lowerBound, next)
                XCTAssertFalse(r.isEmpty)
                next = r.upperBound
            }
            XCTAssertEqual(next, tiling.extent)
        }
    }

    /// Every split (none, rows, columns, depth) × every transpose combination × α, β: the
    /// result is bitwise the same on 1, 2 and 3 threads, and within float rounding of a
    /// double-precision loop (|error| ≤ 2⁻¹⁹·Σ_p |a b| + ulp-level terms of β C).
    func testEverySplitIsThreadIndependentAndCorrect() {
        let shapes: [(m: Int, n: Int, k: Int, split: GEMMTiling.Split)] = [
            (5, 7, 3, .none), (8, 1200, 256, .columns), (1200, 8, 256, .rows), (8, 8, 40_001, .depth),
        ]
        for shape in shapes {
            XCTAssertEqual(GEMMTiling(m: shape.m, n: shape.n, k: shape.k).split, shape.split)
            let a = randomScores(shape.m * shape.k, seed: 1).map(Float.init)
            let b = randomScores(shape.k * shape.n, seed: 2).map(Float.init)
            for (opA, opB) in [(GEMM.Op.none, GEMM.Op.none), (.none, .transpose), (.transpose, .none), (.transpose, .transpose)] {
                for (alpha, beta) in [(Float(1), Float(0)), (0.5, 1), (2, -0.25)] {
                    check(m: shape.m, n: shape.n, k: shape.k, opA, opB, alpha: alpha, beta: beta, a: a, b: b)
                }
            }
        }
    }

    /// β = 0 ignores C, NaNs included (BLAS semantics), on the depth split too.
    func testBetaZeroIgnoresC() {
        for (m, n, k) in [(8, 8, 40_001), (8, 1200, 256)] {
            let a = randomScores(m * k, seed: 1).map(Float.init), b = randomScores(k * n, seed: 2).map(Float.init)
            var c = [Float](repeating: .nan, count: m * n)
            a.withUnsafeBufferPointer { ab in b.withUnsafeBufferPointer { bb in c.withUnsafeMutableBufferPointer { cb in
                GEMM.sgemm(.none, .none, m: m, n: n, k: k, a: ab.baseAddress!, lda: k, b: bb.baseAddress!, ldb: n,
                           c: cb.baseAddress!, ldc: n, threads: 2)
            } } }
            XCTAssertTrue(c.allSatisfy { $0.isFinite }, "\(m)×\(n)×\(k)")
        }
    }

    private func check(m: Int, n: Int, k: Int, _ opA: GEMM.Op, _ opB: GEMM.Op, alpha: Float, beta: Float,
                       a: [Float], b: [Float]) {
        // Stored shapes: A is m×k (or k×m when transposed), B is k×n (or n×k); C has a
        // leading dimension wider than n, so the tiles' strides are exercised.
        let (lda, ldb, ldc) = (opA == .none ? k : m, opB == .none ? n : k, n + 3)
        let c0 = randomScores(m * ldc, seed: 5).map(Float.init)
        func A(_ i: Int, _ p: Int) -> Double { Double(opA == .none ? a[i * lda + p] : a[p * lda + i]) }
        func B(_ p: Int, _ j: Int) -> Double { Double(opB == .none ? b[p * ldb + j] : b[j * ldb + p]) }
        var results: [[Float]] = []
        for threads in [1, 2, 3] {
            var c = c0
            a.withUnsafeBufferPointer { ab in b.withUnsafeBufferPointer { bb in c.withUnsafeMutableBufferPointer { cb in
                GEMM.sgemm(opA, opB, m: m, n: n, k: k, alpha: alpha, a: ab.baseAddress!, lda: lda, b: bb.baseAddress!,
                           ldb: ldb, beta: beta, c: cb.baseAddress!, ldc: ldc, threads: threads)
            } } }
            results.append(c)
        }
        let label = "\(m)×\(n)×\(k) \(opA) \(opB) α=\(alpha) β=\(beta)"
        XCTAssertEqual(results[0], results[1], "\(label): 1 vs 2 threads")
        XCTAssertEqual(results[0], results[2], "\(label): 1 vs 3 threads")
        // Spot-check a spread of entries (the full m·n·k double loop is slow in debug).
        for e in stride(from: 0, to: m * n, by: max(1, m * n / 31)) {
            let (i, j) = (e / n, e % n)
            var exact = 0.0, magnitude = 0.0
            for p in 0..<k { let t = A(i, p) * B(p, j); exact += t; magnitude += Swift.abs(t) }
            let old = Double(c0[i * ldc + j])
            let expected = Double(alpha) * exact + Double(beta) * old
            let tolerance = 0x1p-19 * (Double(Swift.abs(alpha)) * magnitude + Swift.abs(Double(beta) * old)) + 1e-30
            XCTAssertEqual(Double(results[0][i * ldc + j]), expected, accuracy: tolerance, "\(label) at (\(i), \(j))")
        }
        // The columns past n (ldc padding) are untouched.
        for i in 0..<m { for j in n..<ldc { XCTAssertEqual(results[0][i * ldc + j], c0[i * ldc + j], label) } }
    }
}
