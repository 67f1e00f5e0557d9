import CVectorMath

/// A Float row that a finished Double gradient row is rounded into (`y += Float(g)`, or
/// `y = Float(g) + 0` with `overwrite`: bitwise what adding into a zeroed row gives), the
/// Double row being cleared, as the estimator's Float-row entry points do. Handing it to
/// V-PG's Plackett-Luce gradient lets a single weighted rollout write the Float row
/// directly instead of going through the Double row.
public struct RowNarrowing {
    public let row: UnsafeMutablePointer<Float>
    public let overwrite: Bool

    public init(row: UnsafeMutablePointer<Float>, overwrite: Bool) {
        self.row = row
        self.overwrite = overwrite
    }

    /// Narrows and clears `g` into `row` in one vectorized pass; true when a narrowed value
    /// is NaN or ±∞. O(n).
    public func narrow(_ g: UnsafeMutableBufferPointer<Double>) -> Bool {
        guard let base = g.baseAddress, g.count > 0 else { return false }
        return (overwrite ? capg_narrow_set_clear(base, row, g.count) : capg_narrow_add_clear(base, row, g.count)) != 0
    }
}
