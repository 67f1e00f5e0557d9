/// Why a run directory cannot be used for this run; each message says what to do.
public enum RunDirectoryError: Error, CustomStringConvertible, Equatable {
    /// The directory holds the outputs of an earlier run and neither `--resume` nor
    /// `--overwrite` was given.
    case notEmpty(path: String, found: [String])
    /// Another trainer holds the directory's lock; `holder` is what it wrote into the lock
    /// file (pid, host, start time), or a note that it wrote nothing yet.
    case locked(path: String, lockFile: String, holder: String)
    /// The lock file cannot be created or locked (permissions, a file system without locks).
    case lockFailed(path: String, reason: String)
    /// `--overwrite` could not remove an earlier run's file.
    case cleanupFailed(path: String, reason: String)

    public var description: String {
        switch self {
        case .notEmpty(let p, let found):
            return "run directory \(p) already holds an earlier run (\(found.joined(separator: ", "))): continue it with --resume auto, start over with --overwrite (deletes its config, metrics, summary and checkpoints), or choose another --run-dir"
        case .locked(let p, let f, let holder):
            return "run directory \(p) is in use by another capg train (\(holder); lock \(f)): two trainers must not share a run directory; wait for it to finish, stop it, or choose another --run-dir"
        case .lockFailed(let p, let r):
            return "cannot lock run directory \(p): \(r); check that it is writable and on a file system with flock support, or choose another --run-dir"
        case .cleanupFailed(let p, let r):
            return "--overwrite cannot remove \(p): \(r); check permissions or remove it by hand"
        }
    }
}
