import Foundation
import CAPGTrain

/// The POSIX calls behind crash-safe checkpoint files, each failure turned into a
/// `CheckpointError` that names the path and the system's reason.
enum POSIXFile {
    static func reason() -> String { String(cString: strerror(errno)) }

    static func create(_ path: String) throws -> Int32 {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw CheckpointError.writeFailed(path: path, reason: reason()) }
        return fd
    }

    /// Writes every byte (retrying short writes and EINTR).
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String) throws {
        let code = OutputFile.writeAll(fd, bytes)
        if code != 0 { throw CheckpointError.writeFailed(path: path, reason: String(cString: strerror(code))) }
    }

    /// Writes every byte at file offset `offset` (retrying short writes and EINTR).
    static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int, path: String) throws {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset + done))
            if n < 0 {
                if errno == EINTR { continue }
                throw CheckpointError.writeFailed(path: path, reason: reason())
            }
            done += n
        }
    }

    static func sync(_ fd: Int32, path: String) throws {
        guard fsync(fd) == 0 else { throw CheckpointError.writeFailed(path: path, reason: "fsync: \(reason())") }
    }

    static func rename(_ from: String, _ to: String) throws {
        guard Foundation.rename(from, to) == 0 else {
            throw CheckpointError.writeFailed(path: to, reason: "rename from \(from): \(reason())")
        }
    }

    /// Makes a rename or unlink in `directory` durable.
    static func syncDirectory(_ directory: String) throws {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw CheckpointError.writeFailed(path: directory, reason: "open directory: \(reason())") }
        defer { close(fd) }
        try sync(fd, path: directory)
    }

    /// Writes a file atomically: `produce` streams the bytes into a temp file in the same
    /// directory, which is fsynced, renamed over `path`, and the directory fsynced. A crash
    /// at any instant leaves either the old file (or none) or the complete new one, plus
    /// perhaps a temp file, never a partial `path`. Returns the bytes written.
    static func writeAtomically(_ path: String, produce: ((UnsafeRawBufferPointer) throws -> Void) throws -> Void) throws -> Int {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        let temp = dir + "/." + url.lastPathComponent + ".tmp-\(getpid())"
        let fd = try create(temp)
        var bytes = 0
        do {
            try produce { chunk in
                try writeAll(fd, chunk, path: temp)
                bytes += chunk.count
            }
            try sync(fd, path: temp)
        } catch {
            close(fd)
            unlink(temp)
            throw error
        }
        close(fd)
        try rename(temp, path)
        try syncDirectory(dir)
        return bytes
    }

    /// The whole file.
    static func readAll(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CheckpointError.unreadable(path: path, reason: reason()) }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw CheckpointError.unreadable(path: path, reason: reason()) }
        guard (st.st_mode & S_IFMT) == S_IFREG else { throw CheckpointError.unreadable(path: path, reason: "not a regular file") }
        let size = Int(st.st_size)
        var failure: String?
        let bytes = [UInt8](unsafeUninitializedCapacity: size) { buf, count in
            var done = 0
            while done < size {
                let n = read(fd, buf.baseAddress! + done, size - done)
                if n < 0 { if errno == EINTR { continue }; failure = reason(); break }
                if n == 0 { break }   // the file shrank while reading
                done += n
            }
            count = done
        }
        if let failure { throw CheckpointError.unreadable(path: path, reason: failure) }
        return bytes
    }
}
