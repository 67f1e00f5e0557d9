import Foundation

/// One measured message size of the allreduce microbenchmark.
public struct AllreduceSample: Sendable {
    public var bytes: Int
    /// Median seconds of one `allreduceSum` over the repetitions (after a barrier).
    public var seconds: Double
}

/// The alpha-beta cost model `T(m) = α + β·m` of one allreduce of m bytes, fitted by least
/// squares (weighted by 1/T² so small and large messages count alike, i.e. relative error).
public struct AlphaBetaModel: Sendable, Codable {
    /// Latency term α (seconds).
    public var alpha: Double
    /// Per-byte term β (seconds per byte); 1/β is the effective allreduce bandwidth.
    public var beta: Double

    public func seconds(bytes: Double) -> Double { alpha + beta * bytes }

    /// Weighted least squares of `T = α + β m` with weights `1/T²`.
    public static func fit(_ samples: [AllreduceSample]) -> AlphaBetaModel {
        var sw = 0.0, sx = 0.0, sy = 0.0, sxx = 0.0, sxy = 0.0
        for s in samples {
            let w = 1 / (s.seconds * s.seconds)
            let x = Double(s.bytes), y = s.seconds
            sw += w; sx += w * x; sy += w * y; sxx += w * x * x; sxy += w * x * y
        }
        let det = sw * sxx - sx * sx
        let beta = det != 0 ? (sw * sxy - sx * sy) / det : 0
        let alpha = (sy - beta * sx) / sw
        return AlphaBetaModel(alpha: max(alpha, 0), beta: max(beta, 0))
    }

    /// Ring allreduce of m bytes over P ranks on links of latency `latency` and bandwidth
    /// `bandwidth` (bytes/s): `2(P−1)·latency + 2(P−1)/P · m / bandwidth`.
    public static func ringAllreduceSeconds(bytes m: Double, ranks p: Int, latency: Double, bandwidth: Double) -> Double {
        guard p > 1 else { return 0 }
        let pp = Double(p)
        return 2 * (pp - 1) * latency + 2 * (pp - 1) / pp * m / bandwidth
    }
}

/// Times `allreduceSum` of Float buffers through the project's own communicator, the same
/// call the trainer makes once per step. Every rank must call it with the same arguments.
public struct AllreduceBenchmark {
    public var sizes: [Int]
    public var repetitions: Int

    public init(sizes: [Int], repetitions: Int) { self.sizes = sizes; self.repetitions = repetitions }

    /// Default sizes: 4 B to 64 MiB in powers of 4.
    public static let defaultSizes: [Int] = (1...13).map { 1 << (2 * $0) }.filter { $0 <= 64 << 20 }

    public func run(communicator: any Communicator) -> [AllreduceSample] {
        sizes.map { bytes in
            var buffer = [Float](repeating: 1, count: max(1, bytes / 4))
            communicator.allreduceSum(&buffer)  // warm-up (connection set-up, page faults)
            var times = [Double]()
            for _ in 0..<repetitions {
                communicator.barrier()
                let t0 = DispatchTime.now().uptimeNanoseconds
                communicator.allreduceSum(&buffer)
                times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) * 1e-9)
            }
            // The job's time is the slowest rank's: max-reduce each repetition's median.
            var med = [times.sorted()[times.count / 2]]
            communicator.allreduceMax(&med)
            return AllreduceSample(bytes: buffer.count * 4, seconds: med[0])
        }
    }
}
