import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A connection to one scorer shared by every rank, listening on a Unix stream socket.
/// Connecting is retried until the time-out (the scorer may still be starting).
enum ScorerSocket {
    static func connect(path: String, timeout: Double) throws -> ScorerChannel {
        ScorerChannel.ignoreSIGPIPE()
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: addr.sun_path)
        guard path.utf8.count < capacity else {
            throw ScorerError.connectFailed(scorer: path, reason: "the path is longer than \(capacity - 1) bytes")
        }
        withUnsafeMutableBytes(of: &addr.sun_path) { raw in
            for (i, b) in path.utf8.enumerated() { raw[i] = b }
        }
        let deadline = ScorerChannel.now() + timeout
        var lastError = "no attempt"
        while true {
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            guard fd >= 0 else { throw ScorerError.connectFailed(scorer: path, reason: String(cString: strerror(errno))) }
            let rc = withUnsafePointer(to: &addr) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            if rc == 0 {
                _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
                return ScorerChannel(readFD: fd, writeFD: fd)
            }
            lastError = String(cString: strerror(errno))
            close(fd)
            if ScorerChannel.now() >= deadline {
                throw ScorerError.connectFailed(scorer: path, reason: "\(lastError) (retried for \(timeout) s)")
            }
            usleep(50_000)
        }
    }
}
