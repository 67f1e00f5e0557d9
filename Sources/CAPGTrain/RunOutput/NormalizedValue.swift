import Foundation

/// The one rule for reporting the normalized value `(V − V_random)/(V_oracle − V_random)`.
///
/// The number is always reported, the same everywhere (progress lines, metrics, the result
/// line, summary.json, `capg eval`): it is the trainer's formula (0 when the oracle and
/// random values are exactly equal). It is *meaningful* only when the oracle ESR beats the
/// random ESR by a visible margin relative to the value's scale:
///
///   meaningful ⇔ V_oracle − V_random > 1% · |V_oracle|.
///
/// Relative, because rewards differ in scale by orders of magnitude (OBD click rates are
/// ~0.004, so an absolute threshold such as 0.01 wrongly rejected an oracle 30% above
/// random); a reward-blind fixed LSR (`lsr_alignment 0`) makes the oracle no better than
/// random and fails it. Where it fails, human-readable outputs add a warning after the number.
public enum NormalizedValue {
    public static let minimumRelativeGap = 0.01

    public static func isMeaningful(random: Double, oracle: Double) -> Bool {
        oracle - random > minimumRelativeGap * abs(oracle)
    }

    /// `"0.974"`, or `"0.123 (not meaningful: oracle ≈ random ESR)"`.
    public static func text(_ normalized: Double, random: Double, oracle: Double) -> String {
        let number = String(format: "%.3f", normalized)
        return isMeaningful(random: random, oracle: oracle) ? number : number + " (not meaningful: oracle ≈ random ESR)"
    }
}
