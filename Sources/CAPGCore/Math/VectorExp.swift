import CVectorMath

/// A vectorized double-precision `exp` for the O(N) passes of the estimators (where a
/// scalar libm `exp` per item was the largest single cost of the step), implemented in C
/// (`Sources/CVectorMath`) so that it is compiled for AVX2+FMA as well as for the baseline
/// ISA and picked by CPUID at run time.
///
/// Method: `y = k·ln2 + r` with `k = round(y/ln2)` and a two-part (Cody–Waite) ln 2, so
/// `|r| ≤ ln2/2` with no cancellation; `e^r` by its Taylor polynomial of degree 13
/// (truncation < 5e-18 relative) in Horner form; `2^k` from the exponent bits. Error ≤ 2
/// ulp against libm for y ∈ [−708.39, 709.78] (tested); below that range the result is 0
/// (no subnormals: callers use it for weights `e^{s − max s}` that are then summed), above
/// +∞, NaN → NaN.
public enum VectorExp {
    /// `out[i] = e^{x[i] + shift}` for every i; returns `Σ_i out[i]` (summed in eight fixed
    /// interleaved partial sums: deterministic, not left-to-right). `out.count ≥ x.count`.
    /// Cost: O(n), ≈ 4 elements per cycle-group with AVX2.
    @discardableResult @inlinable
    public static func exp(_ x: UnsafeBufferPointer<Double>, shift: Double = 0,
                           into out: UnsafeMutableBufferPointer<Double>) -> Double {
        precondition(out.count >= x.count)
        guard let xp = x.baseAddress, let op = out.baseAddress, x.count > 0 else { return 0 }
        return capg_exp_shifted(xp, shift, op, x.count)
    }

    /// `e^x` for one value (the same kernel; for tests and scalar call sites).
    @inlinable
    public static func exp(_ x: Double) -> Double {
        var v = x, y = 0.0
        capg_exp_shifted(&v, 0, &y, 1)
        return y
    }

    /// Whether this CPU runs the AVX2+FMA variant.
    public static var usesAVX2: Bool { capg_vexp_uses_avx2() != 0 }
}
