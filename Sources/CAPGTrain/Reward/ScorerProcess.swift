import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A scorer started by capg: `/bin/sh -c command` with its stdin and stdout connected to
/// capg by pipes (stderr is inherited, so its messages land in the job log) and
/// `CAPG_RANK`, `CAPG_RANKS` in its environment. One per rank.
final class ScorerProcess {
    let command: String
    let pid: pid_t
    let channel: ScorerChannel
    private var reaped: Int32?

    init(command: String, rank: Int, ranks: Int) throws {
        ScorerChannel.ignoreSIGPIPE()
        var toChild: [Int32] = [0, 0], fromChild: [Int32] = [0, 0]
        guard pipe(&toChild) == 0, pipe(&fromChild) == 0 else {
            throw ScorerError.spawnFailed(scorer: command, reason: String(cString: strerror(errno)))
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, toChild[0], 0)
        posix_spawn_file_actions_adddup2(&actions, fromChild[1], 1)
        for fd in toChild + fromChild { posix_spawn_file_actions_addclose(&actions, fd) }
        // Its own process group, so that terminating it reaches the shell *and* what the
        // shell started (dash does not exec a `-c` command: killing only the shell would
        // orphan the scorer, which would keep the job's stderr open).
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)
        var env = ProcessInfo.processInfo.environment
        env["CAPG_RANK"] = String(rank); env["CAPG_RANKS"] = String(ranks)
        let argv = ["/bin/sh", "-c", command]
        let envp = env.map { "\($0.key)=\($0.value)" }
        var child: pid_t = 0
        let rc = withCStrings(argv) { a in withCStrings(envp) { e in posix_spawn(&child, "/bin/sh", &actions, &attributes, a, e) } }
        close(toChild[0]); close(fromChild[1])
        guard rc == 0 else {
            close(toChild[1]); close(fromChild[0])
            throw ScorerError.spawnFailed(scorer: command, reason: String(cString: strerror(rc)))
        }
        // capg's ends must not leak into later children (e.g. another rank's scorer).
        _ = fcntl(toChild[1], F_SETFD, FD_CLOEXEC); _ = fcntl(fromChild[0], F_SETFD, FD_CLOEXEC)
        self.command = command
        pid = child
        channel = ScorerChannel(readFD: fromChild[0], writeFD: toChild[1])
    }

    /// "exited with status N" / "was killed by signal N" once the child is gone, else nil.
    func exitStatus(waitingUpTo seconds: Double) -> String? {
        let deadline = ScorerChannel.now() + seconds
        while reaped == nil {
            var status: Int32 = 0
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { reaped = status; break }
            if r < 0 || ScorerChannel.now() >= deadline { return nil }
            usleep(10_000)
        }
        let s = reaped!
        let signalled = s & 0x7F
        return signalled == 0 ? "exited with status \((s >> 8) & 0xFF)" : "was killed by signal \(signalled)"
    }

    /// Waits up to `grace` seconds for the child to exit (it got Goodbye or EOF), then
    /// SIGTERM, then SIGKILL to its whole process group; always reaps it. Whatever else of
    /// the group is still alive then (a scorer that outlived its shell) gets SIGKILL too.
    func terminate(grace: Double) {
        defer { kill(-pid, SIGKILL) }
        if exitStatus(waitingUpTo: grace) != nil { return }
        kill(-pid, SIGTERM)
        if exitStatus(waitingUpTo: 1) != nil { return }
        kill(-pid, SIGKILL)
        _ = exitStatus(waitingUpTo: 5)
    }
}

/// Calls `body` with a NULL-terminated C array of copies of `strings`.
private func withCStrings<R>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> R) -> R {
    var cs: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    cs.append(nil)
    defer { for p in cs { free(p) } }
    return body(cs)
}
