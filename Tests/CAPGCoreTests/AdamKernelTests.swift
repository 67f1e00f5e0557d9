import CVectorMath
import XCTest

@testable import CAPGCore

/// The vectorized Adam pass (`capg_adam_ascend_f32`) against the scalar Swift loop it
/// replaced: bitwise equal on both variants, at every length (vector body and tail), for
/// gradients with zeros, subnormals and large values, and `Adam.ascend` bitwise the same on
/// 1, 2 and 3 threads.
final class AdamKernelTests: XCTestCase {
    /// The scalar loop `Adam.ascend` ran before the kernel (the reference).
    static func scalarStep(p: inout [Float], m: inout [Float], v: inout [Float], g: [Float],
                           b1: Float, b2: Float, step: Float, eps: Float) {
        for i in 0..<p.count {
            let gi = g[i]
            m[i] = b1 * m[i] + (1 - b1) * gi
            v[i] = b2 * v[i] + (1 - b2) * gi * gi
            p[i] += step * m[i] / (v[i].squareRoot() + eps)
        }
    }

    static func gradient(_ n: Int, _ r: inout RandomStream) -> [Float] {
        (0..<n).map { i in
            switch i % 7 {
            case 0: return 0
            case 1: return Float(r.normal()) * 1e-40  // subnormal
            case 2: return Float(r.normal()) * 1e30
            default: return Float(r.normal() * 3)
            }
        }
    }

    func testKernelIsTheScalarLoopBitwiseOnBothVariants() {
        var r = RandomStream(RandomKey(seed: 5, purpose: .variance, query: 1))
        for n in Array(0...33) + [1000, 4099] {
            var p = (0..<n).map { _ in Float(r.normal()) }
            var m = [Float](repeating: 0, count: n), v = [Float](repeating: 0, count: n)
            var (p1, m1, v1) = (p, m, v), (p2, m2, v2) = (p, m, v)
            for t in 1...3 {
                let g = Self.gradient(n, &r)
                let step = Float(1e-3 * Double(t)), eps = Float(1e-8 / Double(t))
                Self.scalarStep(p: &p, m: &m, v: &v, g: g, b1: 0.9, b2: 0.999, step: step, eps: eps)
                g.withUnsafeBufferPointer { gb in
                    let gp = gb.baseAddress ?? UnsafePointer(bitPattern: 8)!
                    p1.withUnsafeMutableBufferPointer { p in m1.withUnsafeMutableBufferPointer { m in v1.withUnsafeMutableBufferPointer { v in
                        capg_adam_ascend_f32(p.baseAddress ?? UnsafeMutablePointer(bitPattern: 8)!, m.baseAddress ?? UnsafeMutablePointer(bitPattern: 8)!,
                                             v.baseAddress ?? UnsafeMutablePointer(bitPattern: 8)!, gp, n, 0.9, 0.999, step, eps)
                    } } }
                    p2.withUnsafeMutableBufferPointer { p in m2.withUnsafeMutableBufferPointer { m in v2.withUnsafeMutableBufferPointer { v in
                        capg_adam_ascend_f32_generic(p.baseAddress ?? UnsafeMutablePointer(bitPattern: 8)!, m.baseAddress ?? UnsafeMutablePointer(bitPattern: 8)!,
                                                     v.baseAddress ?? UnsafeMutablePointer(bitPattern: 8)!, gp, n, 0.9, 0.999, step, eps)
                    } } }
                }
                for (name, q) in [("dispatch", (p1, m1, v1)), ("generic", (p2, m2, v2))] {
                    XCTAssertEqual(q.0.map(\.bitPattern), p.map(\.bitPattern), "\(name) parameters, n = \(n), t = \(t)")
                    XCTAssertEqual(q.1.map(\.bitPattern), m.map(\.bitPattern), "\(name) m, n = \(n), t = \(t)")
                    XCTAssertEqual(q.2.map(\.bitPattern), v.map(\.bitPattern), "\(name) v, n = \(n), t = \(t)")
                }
            }
        }
    }

    func testAscendIsTheScalarLoopOnEveryThreadCount() {
        let saved = GEMM.threads
        defer { GEMM.setThreads(saved) }
        let n = 200_003  // three parts of ≥ 2^16 on 3 threads, and a vector tail
        var r = RandomStream(RandomKey(seed: 6, purpose: .variance, query: 2))
        let start = (0..<n).map { _ in Float(r.normal()) }
        let grads = (0..<2).map { _ in Self.gradient(n, &r) }
        var reference = start
        var m = [Float](repeating: 0, count: n), v = [Float](repeating: 0, count: n)
        for (t, g) in grads.enumerated() {
            let tt = Double(t + 1)
            let step = Float(1e-3 * (1 - Foundation.pow(0.999, tt)).squareRoot() / (1 - Foundation.pow(0.9, tt)))
            let eps = Float(1e-8 * (1 - Foundation.pow(0.999, tt)).squareRoot())
            Self.scalarStep(p: &reference, m: &m, v: &v, g: g, b1: 0.9, b2: 0.999, step: step, eps: eps)
        }
        for threads in 1...3 {
            GEMM.setThreads(threads)
            var p = start
            var adam = Adam(parameterCount: n, learningRate: 1e-3)
            for g in grads { adam.ascend(parameters: &p, gradient: g) }
            XCTAssertEqual(p.map(\.bitPattern), reference.map(\.bitPattern), "\(threads) threads")
            XCTAssertEqual(adam.m.map(\.bitPattern), m.map(\.bitPattern), "\(threads) threads")
            XCTAssertEqual(adam.v.map(\.bitPattern), v.map(\.bitPattern), "\(threads) threads")
        }
    }
}
