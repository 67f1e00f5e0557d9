import Foundation

/// What `capg train` may do with a run directory that holds an earlier run.
public enum RunDirectoryPolicy: Sendable {
    /// Refuse it (the default): a fresh run would mix its files with the earlier run's.
    case fresh
    /// Continue it (`--resume`): the resume logic keeps what belongs to the continued run.
    case resume
    /// Delete the earlier run's files first (`--overwrite`).
    case overwrite
}

/// The check rank 0 makes before a run (with the `RunDirectoryLock` held): a run directory
/// that holds an earlier run's outputs (`config.json`, `metrics.jsonl`, `metrics.csv`,
/// `summary.json`, or checkpoint files in the checkpoint directory) is refused unless the
/// run resumes it or overwrites it. Other files (notes, a command stamp) are neither
/// counted nor touched. O(directory entries).
public enum RunDirectoryGuard {
    /// The files a run writes into its run directory.
    public static let runFiles = ["config.json", "metrics.jsonl", "metrics.csv", "summary.json"]

    /// True for a checkpoint directory entry written by capg: `ckpt-<step>.capgckpt`, the
    /// `latest` pointer, `*.superseded` and temp files of interrupted writes.
    static func isCheckpointFile(_ name: String) -> Bool {
        name == "latest" || (name.hasPrefix("ckpt-") && (name.hasSuffix(".capgckpt") || name.hasSuffix(".superseded")))
            || (name.hasPrefix(".") && name.contains(".tmp-"))
    }

    /// Paths of an earlier run's outputs, run files first, then checkpoint files (sorted).
    public static func earlierRunFiles(directory: String, checkpointDirectory: String) -> [String] {
        let fm = FileManager.default
        var found = runFiles.filter { fm.fileExists(atPath: directory + "/" + $0) }.map { directory + "/" + $0 }
        let names = ((try? fm.contentsOfDirectory(atPath: checkpointDirectory)) ?? []).filter(isCheckpointFile).sorted()
        found += names.map { checkpointDirectory + "/" + $0 }
        return found
    }

    /// Applies `policy`: throws `.notEmpty` for `.fresh` when an earlier run is there, and
    /// deletes its files for `.overwrite` (returning them); `.resume` changes nothing.
    @discardableResult
    public static func prepare(directory: String, checkpointDirectory: String, policy: RunDirectoryPolicy) throws -> [String] {
        let found = earlierRunFiles(directory: directory, checkpointDirectory: checkpointDirectory)
        switch policy {
        case .resume:
            return []
        case .fresh:
            guard found.isEmpty else {
                let shown = found.prefix(5).map { $0.hasPrefix(directory + "/") ? String($0.dropFirst(directory.count + 1)) : $0 }
                throw RunDirectoryError.notEmpty(path: directory, found: shown + (found.count > 5 ? ["…"] : []))
            }
            return []
        case .overwrite:
            for path in found {
                guard unlink(path) == 0 || errno == ENOENT else {
                    throw RunDirectoryError.cleanupFailed(path: path, reason: String(cString: strerror(errno)))
                }
            }
            return found
        }
    }
}
