import CVectorMath

/// The element type of a score row that the O(N) passes read: `Double` (the `[Double]`
/// APIs) or `Float` (the trainer's B×N score matrix, read in place instead of through a
/// widened N-double copy).
///
/// Why this is exact: `Double(Float)` is exact, and every requirement is a C kernel whose
/// float variant runs the double variant's loop on the items widened in registers, so a
/// pass generic over the element gives bitwise the same result for a Float row as for its
/// widened copy (tested per kernel). A Float row is read at 4 bytes per item, and at the
/// reference step (N = 10⁵) it fits in L2 where its widened copy did not.
///
/// Internal: the generic passes are specialized for both types within the module, so the
/// `Double` instantiation is the code the `[Double]` APIs ran before.
protocol ScoreElement {
    /// The item as a Double (exact).
    var double: Double { get }
    /// `capg_max_f64` / `capg_max_f32`: max_i x_i, NaNs ignored, −∞ when empty. O(n).
    static func maximum(_ x: UnsafeBufferPointer<Self>) -> Double
    /// `capg_exp_shifted` / `_f32`: `out[i] = e^{x_i + shift}`, returns Σ out (fixed order). O(n).
    static func expShifted(_ x: UnsafePointer<Self>, shift: Double, into out: UnsafeMutablePointer<Double>,
                           count n: Int) -> Double
    /// `capg_threshold_exp_split` / `_f32` (see `ThresholdHotCold.withExps`). O(n).
    static func thresholdExpSplit(_ x: UnsafePointer<Self>, shift: Double, weights w: UnsafeMutablePointer<Double>,
                                  count n: Int, cut: Double, hot: UnsafeMutablePointer<Int32>,
                                  result: UnsafeMutablePointer<capg_threshold_split_result>)
    /// `capg_gumbel_candidates` / `_f32` (see `GumbelTopK.sampleWithKey`). O(count).
    static func gumbelCandidates(words: UnsafePointer<UInt32>, scores: UnsafePointer<Self>, count: Int, kappa: Double,
                                 mask: UnsafeMutablePointer<UInt64>) -> Int
}

extension Double: ScoreElement {
    @inline(__always) var double: Double { self }

    @inline(__always) static func maximum(_ x: UnsafeBufferPointer<Double>) -> Double {
        StableMath.maximum(x)
    }

    @inline(__always)
    static func expShifted(_ x: UnsafePointer<Double>, shift: Double, into out: UnsafeMutablePointer<Double>,
                           count n: Int) -> Double {
        capg_exp_shifted(x, shift, out, n)
    }

    @inline(__always)
    static func thresholdExpSplit(_ x: UnsafePointer<Double>, shift: Double, weights w: UnsafeMutablePointer<Double>,
                                  count n: Int, cut: Double, hot: UnsafeMutablePointer<Int32>,
                                  result: UnsafeMutablePointer<capg_threshold_split_result>) {
        capg_threshold_exp_split(x, shift, w, n, cut, hot, result)
    }

    @inline(__always)
    static func gumbelCandidates(words: UnsafePointer<UInt32>, scores: UnsafePointer<Double>, count: Int,
                                 kappa: Double, mask: UnsafeMutablePointer<UInt64>) -> Int {
        capg_gumbel_candidates(words, scores, count, kappa, mask)
    }
}

extension Float: ScoreElement {
    @inline(__always) var double: Double { Double(self) }

    @inline(__always) static func maximum(_ x: UnsafeBufferPointer<Float>) -> Double {
        guard let p = x.baseAddress, x.count > 0 else { return -.infinity }
        return capg_max_f32(p, x.count)
    }

    @inline(__always)
    static func expShifted(_ x: UnsafePointer<Float>, shift: Double, into out: UnsafeMutablePointer<Double>,
                           count n: Int) -> Double {
        capg_exp_shifted_f32(x, shift, out, n)
    }

    @inline(__always)
    static func thresholdExpSplit(_ x: UnsafePointer<Float>, shift: Double, weights w: UnsafeMutablePointer<Double>,
                                  count n: Int, cut: Double, hot: UnsafeMutablePointer<Int32>,
                                  result: UnsafeMutablePointer<capg_threshold_split_result>) {
        capg_threshold_exp_split_f32(x, shift, w, n, cut, hot, result)
    }

    @inline(__always)
    static func gumbelCandidates(words: UnsafePointer<UInt32>, scores: UnsafePointer<Float>, count: Int,
                                 kappa: Double, mask: UnsafeMutablePointer<UInt64>) -> Int {
        capg_gumbel_candidates_f32(words, scores, count, kappa, mask)
    }
}
