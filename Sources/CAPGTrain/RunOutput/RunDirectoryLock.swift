import Foundation

/// Exclusive use of a run directory by one trainer: an advisory `flock(LOCK_EX | LOCK_NB)`
/// on `<run-dir>/capg.lock`, taken by rank 0 before it reads anything and held until the
/// process ends (the kernel releases it on any exit, `kill -9` included, so a requeued or
/// resumed job never finds a stale lock). The holder writes `pid`, `host` and `started`
/// into the file, so a second trainer's error names the first. The file itself is left in
/// place: unlinking it would let a third trainer lock a fresh inode while the second still
/// holds the old one. Cost: one open, one flock, one small write.
public final class RunDirectoryLock {
    public static let fileName = "capg.lock"
    public let directory: String
    public let path: String
    private var fd: Int32

    /// Creates `directory` if needed and locks it; throws `.locked` naming the holder when
    /// another process has it.
    public init(directory: String) throws {
        self.directory = directory
        path = directory + "/" + Self.fileName
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw RunDirectoryError.lockFailed(path: directory, reason: "cannot create it: \(error.localizedDescription)")
        }
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw RunDirectoryError.lockFailed(path: directory, reason: "open \(path): \(String(cString: strerror(errno)))") }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let err = errno
            let holder = Self.holder(fd: fd)
            close(fd)
            if err == EWOULDBLOCK {
                throw RunDirectoryError.locked(path: directory, lockFile: path, holder: holder)
            }
            throw RunDirectoryError.lockFailed(path: directory, reason: "flock \(path): \(String(cString: strerror(err)))")
        }
        var host = [CChar](repeating: 0, count: 256)
        gethostname(&host, host.count - 1)
        let text = "pid \(getpid())\nhost \(String(cString: host))\nstarted \(ISO8601DateFormatter().string(from: Date()))\n"
        let bytes = Array(text.utf8)
        guard ftruncate(fd, 0) == 0, bytes.withUnsafeBytes({ pwrite(fd, $0.baseAddress, $0.count, 0) }) == bytes.count else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw RunDirectoryError.lockFailed(path: directory, reason: "write \(path): \(reason)")
        }
        fsync(fd)
    }

    /// "pid 123 on host h, started T" from a held lock file (read through our own descriptor).
    private static func holder(fd: Int32) -> String {
        var buffer = [UInt8](repeating: 0, count: 512)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        let text = n > 0 ? String(decoding: buffer.prefix(n), as: UTF8.self) : ""
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1)
            if parts.count == 2 { fields[String(parts[0])] = String(parts[1]) }
        }
        guard let pid = fields["pid"] else { return "its holder has not written its pid and host yet" }
        return "pid \(pid) on host \(fields["host"] ?? "?")" + (fields["started"].map { ", started \($0)" } ?? "")
    }

    /// Releases the lock now (it is also released when the process exits).
    public func release() {
        if fd >= 0 { close(fd); fd = -1 }
    }

    deinit { release() }
}
