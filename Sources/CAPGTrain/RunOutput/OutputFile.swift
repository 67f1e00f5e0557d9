import Foundation

/// The run directory's files written with plain POSIX calls, so that every failure (a full
/// disk, a read-only or vanished directory) is a thrown `TrainingError.io` naming the path
/// and the system's reason (errno), never a trap: `FileHandle.write` raises an Objective-C
/// exception on ENOSPC, which ends the process with SIGILL and no final checkpoint.
public enum OutputFile {
    static func failure(_ what: String, _ path: String) -> TrainingError {
        .io("cannot \(what) \(path): \(String(cString: strerror(errno))) (errno \(errno))")
    }

    /// Writes every byte at the file's current offset, retrying short writes and EINTR.
    /// Returns 0, or the errno of the failed `write` (callers turn it into their own error;
    /// the checkpoint writer shares this loop).
    public static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Int32 {
        var done = 0
        while done < bytes.count {
            let n = Foundation.write(fd, bytes.baseAddress! + done, bytes.count - done)
            if n < 0 {
                if errno == EINTR { continue }
                return errno
            }
            done += n
        }
        return 0
    }

    static func writeAll(_ fd: Int32, _ data: Data, path: String) throws {
        let code = data.withUnsafeBytes { writeAll(fd, $0) }
        if code != 0 { errno = code; throw failure("write", path) }
    }

    /// Writes `data` as `path` atomically: temp file in the same directory, fsync, rename.
    /// Either the old file (or none) or the complete new one is left, never a partial one.
    public static func writeAtomically(_ path: String, _ data: Data) throws {
        let temp = path + ".tmp-\(getpid())"
        let fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw failure("create", temp) }
        do {
            try writeAll(fd, data, path: temp)
            guard fsync(fd) == 0 else { throw failure("fsync", temp) }
        } catch {
            close(fd); unlink(temp)
            throw error
        }
        close(fd)
        guard rename(temp, path) == 0 else {
            let e = failure("rename \(temp) to", path)
            unlink(temp)
            throw e
        }
    }
}

/// An append-only text file whose lines are whole or absent: a line that cannot be written
/// completely (ENOSPC mid-line) is cut back off with `ftruncate` before the error is thrown,
/// so a reader never sees half a JSON line.
public final class AppendOnlyFile {
    public let path: String
    private let fd: Int32
    private var length: off_t

    /// Creates (truncates) the file, or opens it for appending when `keep` is true.
    public init(path: String, truncate: Bool) throws {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (truncate ? O_TRUNC : O_APPEND), 0o644)
        guard fd >= 0 else { throw OutputFile.failure("create", path) }
        length = lseek(fd, 0, SEEK_END)
    }

    deinit { close(fd) }

    /// Appends `text` whole, or leaves the file as it was and throws.
    public func append(_ text: String) throws {
        let data = Data(text.utf8)
        do {
            try OutputFile.writeAll(fd, data, path: path)
            length += off_t(data.count)
        } catch {
            _ = ftruncate(fd, length)
            _ = lseek(fd, length, SEEK_SET)
            throw error
        }
    }

    /// Makes the appended lines durable.
    public func sync() { _ = fsync(fd) }
}
