import Foundation
import CVectorMath

/// Small numerically stable helpers shared by the samplers, inclusion models and estimators.
public enum StableMath {
    /// `max_i s_i`; O(N).
    @inlinable
    public static func maximum(_ s: [Double]) -> Double {
        s.withUnsafeBufferPointer { maximum($0) }
    }

    /// `max_i s_i`, NaNs ignored, −∞ for an empty buffer: the loop `if s_i > m { m = s_i }` by
    /// the vectorized `capg_max_f64` (max is exact, so its lanes change nothing but the sign
    /// of a zero maximum). O(n).
    public static func maximum(_ s: UnsafeBufferPointer<Double>) -> Double {
        guard let p = s.baseAddress, s.count > 0 else { return -.infinity }
        return capg_max_f64(p, s.count)
    }

    /// `Σ_i x_i²` in Double, in `capg_sum_squares_f32`'s fixed lane order (lane i mod 8,
    /// lanes combined pairwise), vectorized: a gradient's squared norm. O(n).
    public static func sumOfSquares(_ x: UnsafeBufferPointer<Float>) -> Double {
        guard let p = x.baseAddress, x.count > 0 else { return 0 }
        return capg_sum_squares_f32(p, x.count)
    }

    /// Shifted exponentials `w_i = exp(s_i − max s)` (so `max w = 1`, no overflow; below
    /// e^−708 they are 0) by the vectorized `VectorExp`, and their sum; O(N).
    @inlinable
    public static func shiftedExp(_ s: [Double]) -> (weights: [Double], sum: Double) {
        let m = maximum(s)
        var sum = 0.0
        let w = [Double](unsafeUninitializedCapacity: s.count) { buf, count in
            sum = s.withUnsafeBufferPointer { VectorExp.exp($0, shift: -m, into: buf) }
            count = s.count
        }
        return (w, sum)
    }

    /// `softmax(s)_i = w_i / Σ_j w_j`; O(N).
    @inlinable
    public static func softmax(_ s: [Double]) -> [Double] {
        var (w, z) = shiftedExp(s)
        let inv = 1 / z
        for i in w.indices { w[i] *= inv }
        return w
    }

    /// `log Σ_i exp(s_i)`; O(N).
    @inlinable
    public static func logSumExp(_ s: [Double]) -> Double {
        let m = maximum(s)
        var z = 0.0
        for v in s { z += Foundation.exp(v - m) }
        return m + Foundation.log(z)
    }
}
