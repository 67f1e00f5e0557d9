/// Failures during training, each naming the rank, step and what to do.
public enum TrainingError: Error, CustomStringConvertible {
    case nonFiniteGradient(rank: Int, step: Int, query: Int)
    case nonFiniteParameters(step: Int)
    case io(String)
    case injected(rank: Int, step: Int)
    case replicasDiverged(step: Int)
    case incompatibleState(String)
    case lateStageFeatures(String)
    case rewardCount(step: Int, expected: Int, got: Int)

    public var description: String {
        switch self {
        case .nonFiniteGradient(let r, let s, let q):
            return "rank \(r): non-finite (NaN/Inf) gradient at step \(s) for query id \(q); lower --lr or check the data"
        case .nonFiniteParameters(let s):
            return "parameters became non-finite after step \(s); lower --lr"
        case .io(let m): return m
        case .injected(let r, let s):
            return "rank \(r): injected failure at step \(s) (inject_failure test option)"
        case .replicasDiverged(let s):
            return "parameter fingerprints differ across ranks after step \(s): replicas diverged (non-deterministic reduction or memory corruption)"
        case .lateStageFeatures(let m):
            return "the learned LSR cannot score this data: \(m); use lsr_mode fixed"
        case .rewardCount(let s, let e, let g):
            return "the reward source returned \(g) rewards for \(e) rollouts at step \(s)"
        case .incompatibleState(let m):
            return "cannot restore the trainer state: \(m); resume with the config the checkpoint was written with"
        }
    }
}
