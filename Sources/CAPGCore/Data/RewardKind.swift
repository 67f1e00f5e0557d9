/// How the observed reward is drawn from the expected reward `q(x, a)` of the chosen item.
public enum RewardKind: String, CaseIterable, Sendable, Codable {
    /// `r ~ Bernoulli(q(x, a))` (a click).
    case bernoulli
    /// `r = q(x, a)` (noise-free; isolates the variance of the sampling itself).
    case expected

    /// Draws `r` for an item with expected reward `q`, using one uniform of `stream`.
    public func draw(expected q: Double, stream: inout RandomStream) -> Double {
        switch self {
        case .bernoulli: return stream.bernoulli(q) ? 1 : 0
        case .expected: return q
        }
    }
}
