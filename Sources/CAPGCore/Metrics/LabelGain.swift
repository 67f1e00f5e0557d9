import Foundation

/// How a graded relevance label `rel ∈ [0, max]` becomes a reward and an NDCG gain.
///
/// - `exp2`: reward `(2^rel − 1)/(2^max − 1)`, DCG gain `2^rel − 1` (the LETOR convention,
///   MSLR-WEB/Yahoo/Istella with max = 4);
/// - `linear`: reward `rel/max`, DCG gain `rel` (for real-valued labels such as ratings or
///   click rates, where 2^rel would exaggerate the top).
///
/// The reward lies in [0, 1] for every label in [0, max]. O(1) per label.
public enum LabelGain: String, CaseIterable, Sendable, Codable {
    case exp2, linear

    /// Unnormalized DCG gain of a label: `2^rel − 1` or `rel`.
    @inlinable public func gain(_ rel: Double) -> Double {
        switch self {
        case .exp2: return Foundation.exp2(rel) - 1
        case .linear: return rel
        }
    }

    /// Reward `gain(rel)/gain(max)` in [0, 1] for `0 ≤ rel ≤ max`.
    @inlinable public func reward(_ rel: Double, max: Double) -> Double { gain(rel) / gain(max) }
}
