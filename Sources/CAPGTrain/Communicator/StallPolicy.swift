import Foundation

/// How long a rank waits in one collective before it declares the job stalled, and what it
/// does then (the stall inspector of `MPICommunicator`).
///
/// Why: with blocking MPI collectives one stopped or wedged rank (SIGSTOP, a hung file
/// system, a deadlocked scorer) leaves every other rank spinning in the collective forever,
/// and a stop signal cannot act because it is only looked at between steps. So every
/// collective is started non-blocking and polled against a deadline.
public struct StallPolicy: Sendable {
    /// Seconds a collective may take before the job is ended; 0 = wait forever.
    public var timeout: Double
    /// Seconds a collective may still take after a stop signal arrived while waiting.
    /// If the ranks meet within it, the normal stop path runs (every rank finishes the same
    /// step, rank 0 checkpoints, exit 75); otherwise the job ends without a checkpoint.
    public var stopGrace: Double
    /// Seconds the rank that gave up waits for the other ranks to answer "where are you?",
    /// to name the ranks that did not arrive.
    public var diagnosisSeconds: Double
    /// Exit code of a stalled job (no stop signal involved).
    public var stalledExitCode: Int32
    /// Exit code when a stop signal arrived and the ranks could not meet: the job is ended
    /// without a new checkpoint; requeueing resumes from the newest committed one.
    public var stoppedExitCode: Int32

    public init(timeout: Double, stopGrace: Double = 30, diagnosisSeconds: Double = 3,
                stalledExitCode: Int32 = 1, stoppedExitCode: Int32 = 75) {
        self.timeout = timeout; self.stopGrace = stopGrace; self.diagnosisSeconds = diagnosisSeconds
        self.stalledExitCode = stalledExitCode; self.stoppedExitCode = stoppedExitCode
    }

    /// No deadline (the default of a communicator nobody configured).
    public static let off = StallPolicy(timeout: 0)
}

/// What a rank reports when it gives up on a collective.
public struct StallReport: Sendable, CustomStringConvertible {
    public var rank: Int
    public var size: Int
    /// What the rank was doing (`Communicator.activity`) and which collective.
    public var activity: String
    public var collective: String
    public var sequence: Int
    public var waitedSeconds: Double
    /// Ranks that answered, with the collective they were in.
    public var answered: [(rank: Int, sequence: Int, activity: String)]
    /// Ranks that did not answer within the diagnosis window: the ones that did not arrive.
    public var missing: [Int]
    /// True when the wait was cut short by a stop signal.
    public var stopRequested: Bool
    public var timeout: Double

    public var description: String {
        let who = missing.isEmpty ? "every rank answered but the collective did not complete"
            : "rank(s) \(missing.map(String.init).joined(separator: ", ")) did not arrive (no answer)"
        let elsewhere = answered.filter { $0.sequence != sequence }
            .map { "rank \($0.rank) is in collective #\($0.sequence) (\($0.activity))" }
        let tail = elsewhere.isEmpty ? "" : "; " + elsewhere.joined(separator: "; ")
        let head = String(format: "%@: %@ (collective #%d) has not completed after %.1f s; %@%@",
                          activity, collective, sequence, waitedSeconds, who, tail)
        if stopRequested {
            return head + ". A stop was requested, but the ranks cannot agree on a step, so no checkpoint is written; "
                + "the job ends and a resume continues from the newest committed checkpoint"
        }
        return head + String(format: ". The job is ended (stall_timeout %.0f s; raise it with --stall-timeout if a step legitimately takes longer)", timeout)
    }
}
