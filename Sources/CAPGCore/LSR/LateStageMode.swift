/// Which of the two rankers a training step updates (docs/beyond-capg.md).
///
/// - `fixed`: the environment's LSR; only the ESR learns (the CA-PG setting).
/// - `lsrOnly`: the ESR is frozen; the learned LSR follows `∇_φ log π₂(a | S)` on the reward.
/// - `joint`: both every step, from the same rollouts.
/// - `alternating`: blocks of `every` steps, ESR first (each model sees a stationary partner).
public enum LateStageMode: String, CaseIterable, Sendable, Codable {
    case fixed
    case lsrOnly = "lsr-only"
    case joint
    case alternating

    /// Whether the LSR is a trained model at all.
    public var learnsLSR: Bool { self != .fixed }

    /// Whether step `step` updates the ESR (`every` is the alternating block length).
    public func updatesESR(step: Int, every: Int) -> Bool {
        switch self {
        case .fixed, .joint: return true
        case .lsrOnly: return false
        case .alternating: return (step / max(every, 1)) % 2 == 0
        }
    }

    /// Whether step `step` updates the LSR.
    public func updatesLSR(step: Int, every: Int) -> Bool {
        switch self {
        case .fixed: return false
        case .lsrOnly, .joint: return true
        case .alternating: return (step / max(every, 1)) % 2 == 1
        }
    }

    /// LSR optimizer updates completed before step `step` (restores Adam's bias-correction
    /// counter from the step alone, so a checkpoint need not store it). O(1).
    public func lsrUpdates(before step: Int, every: Int) -> Int {
        switch self {
        case .fixed: return 0
        case .lsrOnly, .joint: return step
        case .alternating:
            let e = max(every, 1), blocks = step / (2 * e), rest = step % (2 * e)
            return blocks * e + max(0, rest - e)
        }
    }
}
