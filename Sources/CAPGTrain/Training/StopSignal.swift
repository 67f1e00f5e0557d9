import CStopSignal
import Foundation

/// SIGTERM / SIGUSR1 as a stop request. Slurm sends SIGTERM before preempting a job (and
/// SIGUSR1, with `--signal`, before the time limit); it may reach only some ranks. The C
/// handler only stores the signal number in a `volatile sig_atomic_t` (see
/// capg_stop_signal.h: the one piece of process-global mutable state, required by the
/// signal handler); the trainer polls it once per step and sums it over ranks in the
/// step's metric allreduce, so every rank stops after the same step.
public enum StopSignal {
    /// Installs the handler. Call once, after MPI is initialized (so that it is ours, not
    /// the MPI library's). Throws if the kernel refuses.
    public static func install() throws {
        if capg_stop_signal_install() != 0 {
            throw TrainingError.io("cannot install the SIGTERM/SIGUSR1 handler (sigaction failed)")
        }
    }

    /// The signal number received, nil if none.
    public static var received: Int32? {
        let s = capg_stop_signal_received()
        return s == 0 ? nil : s
    }

    /// Forgets a received signal.
    public static func reset() { capg_stop_signal_reset() }

    /// "SIGTERM", "SIGUSR1" or "signal N".
    public static func name(_ signal: Int32) -> String {
        switch signal {
        case SIGTERM: return "SIGTERM"
        case SIGUSR1: return "SIGUSR1"
        default: return "signal \(signal)"
        }
    }
}
