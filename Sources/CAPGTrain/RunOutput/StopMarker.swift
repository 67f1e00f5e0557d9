import Foundation

/// `<run-dir>/stopped`: the trainer's own word that it ended with exit 75 (stopped by a
/// signal; requeue and resume), for the batch script.
///
/// Why: `mpirun` that itself receives SIGTERM (scancel, preemption, `kill` of the launcher)
/// ends with exit 1 whatever its ranks return, so the exit code alone cannot tell a batch
/// script that the ranks stopped cleanly and want a requeue. The scripts in `cluster/slurm`
/// remove the marker before they start the job and treat a non-zero exit with the marker
/// present as 75. Content: one line `75 <reason>`.
public enum StopMarker {
    public static let fileName = "stopped"

    /// Writes the marker atomically (temp file, rename); best effort: a failure is reported
    /// on stderr, not thrown, because this runs on the way out of a job that is stopping.
    public static func write(runDirectory: String, code: Int32, reason: String) {
        let path = runDirectory + "/" + fileName
        let temp = path + ".tmp.\(getpid())"
        let text = "\(code) \(reason)\n"
        guard FileManager.default.createFile(atPath: temp, contents: Data(text.utf8)), rename(temp, path) == 0 else {
            unlink(temp)
            FileHandle.standardError.write(Data("capg: warning: could not write the stop marker \(path): \(String(cString: strerror(errno)))\n".utf8))
            return
        }
    }

    /// Removes a marker left by an earlier segment of the job (no error if there is none).
    public static func remove(runDirectory: String) {
        unlink(runDirectory + "/" + fileName)
    }
}
