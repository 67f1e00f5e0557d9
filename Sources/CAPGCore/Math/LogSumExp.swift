import Foundation

/// Small numerically stable helpers shared by the samplers, inclusion models and estimators.
public enum StableMath {
    /// `max_i s_i`; O(N).
    @inlinable
    public static func maximum(_ s: [Double]) -> Double {
        var m = -Double.infinity
        for v in s where v > m { m = v }
        return m
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
