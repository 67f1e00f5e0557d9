/// An upper bound of a random-access normal's magnitude without its log and cos: what a
/// top-K search over `ℓ = q + σ ε` needs to rule an item out before computing ε.
///
/// `normal(key:index:)` is `ε = √(−2 ln u₁) · cos(2π u₂)` with `u₁ = (m + ½)·2⁻⁵³`,
/// `m = (w₀ ≫ 5)·2²⁶ + (w₁ ≫ 6)`. If the block's first word w₀ has L ≤ 26 leading zero bits,
/// then `w₀ ≫ 5 ≥ 2^(26−L)`, so `u₁ ≥ 2^(−1−L)` and `|ε| ≤ √(2 (L + 1) ln 2)`; for L ≥ 27
/// only `u₁ ≥ 2⁻⁵⁴` is left (L + 1 → 54, the bound of every draw). Half the draws have
/// L = 0 (|ε| ≤ 1.18), 3/4 have L ≤ 1 (1.67), against 8.66 for the worst case. Padded by
/// 1e-9 relative for the rounding of libm's log, the sqrt and the product.
extension RandomStream {
    /// `|normal(key: key, index: index)| ≤` the returned value. O(1): one Philox block,
    /// a count of leading zeros and a sqrt (no log, no cos).
    @inlinable
    public static func normalMagnitudeBound(key: RandomKey, index: Int) -> Double {
        normalMagnitudeBound(leadingZeros: normalBlock(key: key, index: index)[0].leadingZeroBitCount)
    }

    /// The bound for a first word with `leadingZeros` leading zero bits (see the extension).
    @inlinable
    static func normalMagnitudeBound(leadingZeros l: Int) -> Double {
        let halvings = l >= 27 ? 54.0 : Double(l + 1)  // −log₂ of the smallest possible u₁
        return (2 * halvings * 0.693_147_180_559_945_3).squareRoot() * (1 + 1e-9)
    }
}
