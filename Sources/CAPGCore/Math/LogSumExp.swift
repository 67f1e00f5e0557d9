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

    /// Shifted exponentials `w_i = exp(s_i − max s)` (so `max w = 1`, no overflow); O(N).
    @inlinable
    public static func shiftedExp(_ s: [Double]) -> [Double] {
        let m = maximum(s)
        return s.map { Foundation.exp($0 - m) }
    }

    /// `softmax(s)_i = w_i / Σ_j w_j`; O(N).
    @inlinable
    public static func softmax(_ s: [Double]) -> [Double] {
        var w = shiftedExp(s)
        let z = w.reduce(0, +)
        for i in w.indices { w[i] /= z }
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
