import Foundation

/// A vectorizable double-precision `exp` (branch-free scalar code that LLVM's loop
/// vectorizer turns into packed arithmetic), for the O(N) passes of the inclusion models
/// where glibc's scalar `exp` dominated.
///
/// Method: `x = n·ln2 + r` with `n = round(x/ln2)` and a two-part (Cody–Waite) ln 2, so
/// `|r| ≤ ln2/2 ≈ 0.347` with no cancellation error; `e^r` by its Taylor polynomial of
/// degree 13 (truncation `0.347¹⁴/14! < 5e-18` relative, below half an ulp) in Horner
/// form; `2ⁿ` built from the exponent bits, applied in two halves so results down to
/// the subnormal range come out right. Measured error against glibc (correctly rounded
/// in practice) over [−745, 709]: ≤ 2 ulp (relative ≤ 4.5e-16); tested.
/// Special cases: x > 709.78 → +∞, x < −745.14 → 0, NaN → NaN.
public enum VectorExp {
    @usableFromInline static let ln2Hi = 6.93147180369123816490e-01
    @usableFromInline static let ln2Lo = 1.90821492927058770002e-10
    @usableFromInline static let invLn2 = 1.44269504088896338700e+00
    @usableFromInline static let overflow = 709.782712893383973096
    @usableFromInline static let underflow = -745.133219101941108420

    /// `e^x`, branch-free (selects only), so loops over it auto-vectorize.
    @inlinable @inline(__always)
    public static func exp(_ x: Double) -> Double {
        // Clamp first so n stays in range; special cases are patched at the end.
        let xc = x < -746 ? -746 : (x > 710 ? 710 : x)
        // n = round(x/ln2) by the 1.5·2⁵² trick: its low mantissa bits are n as an integer.
        let shifted = xc * invLn2 + 0x1.8p52
        let n = shifted - 0x1.8p52
        let r = (xc - n * ln2Hi) - n * ln2Lo
        var p = 1.0 / 6227020800                                  // 1/13!
        p = p * r + 1.0 / 479001600                               // 1/12!
        p = p * r + 1.0 / 39916800
        p = p * r + 1.0 / 3628800
        p = p * r + 1.0 / 362880
        p = p * r + 1.0 / 40320
        p = p * r + 1.0 / 5040
        p = p * r + 1.0 / 720
        p = p * r + 1.0 / 120
        p = p * r + 1.0 / 24
        p = p * r + 1.0 / 6
        p = p * r + 0.5
        p = p * r + 1
        p = p * r + 1
        // 2^n = 2^n1 · 2^n2 with both halves normal (n ∈ [−1077, 1025]).
        let ni = Int64(bitPattern: shifted.bitPattern) &- Int64(bitPattern: (0x1.8p52 as Double).bitPattern)
        let n1 = ni &>> 1, n2 = ni &- n1
        let s1 = Double(bitPattern: UInt64(bitPattern: (n1 &+ 1023) &<< 52))
        let s2 = Double(bitPattern: UInt64(bitPattern: (n2 &+ 1023) &<< 52))
        var y = p * s1 * s2
        y = x > overflow ? .infinity : y
        y = x < underflow ? 0 : y
        return x != x ? x : y
    }

    /// `e^x` for 8 lanes (lane-wise `exp(_: Double)`).
    @inlinable
    public static func exp(_ x: SIMD8<Double>) -> SIMD8<Double> {
        var y = SIMD8<Double>()
        for i in 0..<8 { y[i] = exp(x[i]) }
        return y
    }

    /// `out[i] = e^{x[i]}`; `out.count` must be ≥ `x.count`.
    @inlinable
    public static func exp(_ x: UnsafeBufferPointer<Double>, into out: UnsafeMutableBufferPointer<Double>) {
        precondition(out.count >= x.count)
        let n = x.count
        guard n > 0 else { return }
        let xp = x.baseAddress!, op = out.baseAddress!
        for i in 0..<n { op[i] = exp(xp[i]) }
    }
}
