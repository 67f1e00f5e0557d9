import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A framed byte stream to a scorer (a pipe pair or a Unix socket): each message is a varint
/// length followed by that many bytes. Both directions are non-blocking and every wait is a
/// `poll` bounded by a deadline, so a scorer that stops reading or writing costs at most the
/// time-out, never a hang. SIGPIPE is ignored process-wide while a channel exists (set once
/// by `ignoreSIGPIPE`), so writing to a scorer that died is an error, not a signal death.
public final class ScorerChannel {
    /// What went wrong on the stream; `ExternalScorer` turns it into a `ScorerError`.
    enum Failure: Error {
        case closed
        case timedOut
        /// The time-out hit inside a message: `received` bytes of a frame announced as `length`.
        case incomplete(received: Int, length: Int?)
        case oversize(Int)
        case io(String)
    }

    let readFD: Int32
    let writeFD: Int32
    private var buffer = [UInt8]()
    private var start = 0

    /// Takes ownership of the descriptors (equal for a socket) and makes them non-blocking.
    init(readFD: Int32, writeFD: Int32) {
        self.readFD = readFD; self.writeFD = writeFD
        for fd in Set([readFD, writeFD]) { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
    }

    deinit {
        close(readFD)
        if writeFD != readFD { close(writeFD) }
    }

    /// SIGPIPE → ignored (EPIPE is returned instead). Idempotent.
    static func ignoreSIGPIPE() { signal(SIGPIPE, SIG_IGN) }

    /// Seconds left until `deadline` (monotonic) as a poll time-out in ms, at least 0.
    private static func millisecondsLeft(_ deadline: Double) -> Int32 {
        Int32(max(0, min(Double(Int32.max), (deadline - now()) * 1000)).rounded(.up))
    }

    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    /// Waits until `fd` is ready for `events` or the deadline passes. A hang-up counts as
    /// ready (the next read or write reports it).
    private func wait(_ fd: Int32, _ events: Int16, deadline: Double) throws {
        while true {
            var p = pollfd(fd: fd, events: events, revents: 0)
            let r = poll(&p, 1, Self.millisecondsLeft(deadline))
            if r > 0 { return }
            if r == 0 { throw Failure.timedOut }
            if errno != EINTR { throw Failure.io(String(cString: strerror(errno))) }
        }
    }

    /// Sends one framed message. O(bytes).
    func send(_ payload: [UInt8], deadline: Double) throws {
        let bytes = ScorerMessage.varint(payload.count) + payload
        var off = 0
        while off < bytes.count {
            let n = bytes[off...].withUnsafeBytes { write(writeFD, $0.baseAddress, $0.count) }
            if n > 0 { off += n; continue }
            switch errno {
            case EAGAIN, EWOULDBLOCK: try wait(writeFD, Int16(POLLOUT), deadline: deadline)
            case EINTR: continue
            case EPIPE, ECONNRESET: throw Failure.closed
            default: throw Failure.io(String(cString: strerror(errno)))
            }
        }
    }

    /// Receives one framed message (at most `ScorerMessage.maximumMessageBytes`). O(bytes).
    func receive(deadline: Double) throws -> [UInt8] {
        var length = 0, shift = 0, prefix = 0
        do {
            while true {
                let b = try byte(deadline: deadline)
                prefix += 1
                length |= Int(b & 0x7F) << shift
                if b & 0x80 == 0 { break }
                shift += 7
                if shift > 35 { throw Failure.oversize(Int.max) }
            }
        } catch Failure.timedOut where prefix > 0 {
            throw Failure.incomplete(received: prefix, length: nil)
        }
        if length > ScorerMessage.maximumMessageBytes { throw Failure.oversize(length) }
        do {
            while buffer.count - start < length { try fill(deadline: deadline) }
        } catch Failure.timedOut {
            throw Failure.incomplete(received: prefix + buffer.count - start, length: length)
        }
        let message = Array(buffer[start..<start + length])
        start += length
        return message
    }

    private func byte(deadline: Double) throws -> UInt8 {
        if start == buffer.count { try fill(deadline: deadline) }
        defer { start += 1 }
        return buffer[start]
    }

    /// Reads what is available (waiting for at least one byte).
    private func fill(deadline: Double) throws {
        if start > 0 { buffer.removeFirst(start); start = 0 }
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(readFD, $0.baseAddress, $0.count) }
            if n > 0 { buffer += chunk[0..<n]; return }
            if n == 0 { throw Failure.closed }
            switch errno {
            case EAGAIN, EWOULDBLOCK: try wait(readFD, Int16(POLLIN), deadline: deadline)
            case EINTR: continue
            case ECONNRESET: throw Failure.closed
            default: throw Failure.io(String(cString: strerror(errno)))
            }
        }
    }
}
