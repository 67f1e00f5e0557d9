/// Why an external scorer could not deliver rewards. Every message names the scorer (its
/// command or socket), the rank and, where known, the step, and says what to check.
public enum ScorerError: Error, CustomStringConvertible, Equatable {
    case spawnFailed(scorer: String, reason: String)
    case connectFailed(scorer: String, reason: String)
    case exited(scorer: String, rank: Int, step: Int?, status: String)
    case timedOut(scorer: String, rank: Int, seconds: Double, waitingFor: String)
    case garbage(scorer: String, rank: Int, step: Int?, reason: String)
    case versionMismatch(scorer: String, rank: Int, ours: Int, theirs: Int)
    case scorerFailed(scorer: String, rank: Int, step: Int, message: String)

    public var description: String {
        func at(_ step: Int?) -> String { step.map { " at step \($0)" } ?? " during the handshake" }
        switch self {
        case .spawnFailed(let s, let r):
            return "cannot start the scorer '\(s)': \(r); check scorer_command"
        case .connectFailed(let s, let r):
            return "cannot connect to the scorer socket \(s): \(r); start the scorer first or fix scorer_socket"
        case .exited(let s, let rank, let step, let status):
            return "rank \(rank): the scorer '\(s)' \(status)\(at(step)); see its messages above"
        case .timedOut(let s, let rank, let secs, let what):
            return "rank \(rank): the scorer '\(s)' did not answer within \(secs) s (waiting for \(what)); raise scorer_timeout if it is just slow"
        case .garbage(let s, let rank, let step, let reason):
            return "rank \(rank): the scorer '\(s)' sent an invalid reply\(at(step)): \(reason); it must speak proto/capg/v1/scorer.proto with varint length prefixes"
        case .versionMismatch(let s, let rank, let ours, let theirs):
            return "rank \(rank): the scorer '\(s)' speaks scorer protocol version \(theirs), capg speaks \(ours); update the scorer"
        case .scorerFailed(let s, let rank, let step, let m):
            return "rank \(rank): the scorer '\(s)' reported a failure at step \(step): \(m)"
        }
    }
}
