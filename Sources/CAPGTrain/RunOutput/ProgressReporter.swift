import Foundation

/// Rank 0's progress output: a redrawn bar on a terminal, plain periodic lines otherwise
/// (batch logs should not fill with carriage returns).
public struct ProgressReporter {
    public let total: Int
    public let isTTY: Bool
    public let everyLines: Int
    private let start = Date()

    /// A bar only on a real terminal, and never under an MPI launcher (Open MPI hands
    /// ranks a pseudo-terminal even when mpirun's own output goes to a batch log).
    public init(total: Int, forcePlain: Bool = false) {
        self.total = total
        isTTY = !forcePlain && isatty(STDOUT_FILENO) != 0 && Launch.environmentRank == nil
        everyLines = max(1, total / 20)
    }

    public func report(step: Int, reward: Double, evaluation: StepMetrics.Evaluation?, lastEvaluation: StepMetrics.Evaluation?) {
        let elapsed = Date().timeIntervalSince(start)
        let rate = Double(step) / max(elapsed, 1e-9)
        let eta = rate > 0 ? Double(total - step) / rate : 0
        let ev = evaluation ?? lastEvaluation
        let evText = ev.map { String(format: " value %.4f norm %.3f recall %.3f", $0.value, $0.normalizedValue, $0.recall) } ?? ""
        if isTTY {
            let width = 30
            let filled = total > 0 ? width * step / total : width
            let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled)
            let line = String(format: "\r[%@] %d/%d  %.1f step/s  eta %.0fs  reward %.3f", bar, step, total, rate, eta, reward) + evText
            FileHandle.standardOutput.write(Data((line + "\u{1B}[K").utf8))
            if step == total { FileHandle.standardOutput.write(Data("\n".utf8)) }
        } else if step % everyLines == 0 || step == total || evaluation != nil {
            let line = String(format: "step %d/%d  %.1f step/s  elapsed %.1fs  reward %.4f", step, total, rate, elapsed, reward) + evText
            FileHandle.standardOutput.write(Data((line + "\n").utf8))
        }
    }
}
