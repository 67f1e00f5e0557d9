import Foundation

/// Whole-file outputs of the serving commands.
enum OutputFiles {
    /// Writes `bytes` to `path` through a temp file in the same directory and a rename, so
    /// an interrupted write never leaves a truncated file under the final name.
    static func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        let tmp = path + ".tmp-\(getpid())"
        guard FileManager.default.createFile(atPath: tmp, contents: Data(bytes)) else {
            throw ServeError.cannotWrite(path: path, reason: "cannot create \(tmp) (does the directory exist and is it writable?)")
        }
        guard rename(tmp, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(tmp)
            throw ServeError.cannotWrite(path: path, reason: reason)
        }
    }
}
