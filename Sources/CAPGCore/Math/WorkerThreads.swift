import Foundation

/// Item i on thread `i mod T`: the one rule by which capg spreads independent work (queries,
/// chunks of a random fill) over a rank's worker threads. Callers write only item i's own
/// output slot (and thread t's own scratch), so every per-item result — and a sum over them
/// taken afterwards in item order — is bitwise independent of T.
public enum WorkerThreads {
    /// Runs `body(i, t)` for every i < count on T = min(threads, count) threads (inline when
    /// T = 1). O(count) calls plus one `concurrentPerform`.
    public static func forEach(_ count: Int, threads: Int, _ body: (_ item: Int, _ thread: Int) -> Void) {
        let t = max(1, min(threads, count))
        if t == 1 {
            for i in 0..<count { body(i, 0) }
            return
        }
        withoutActuallyEscaping(body) { body in
            let job = Job(body: body)
            DispatchQueue.concurrentPerform(iterations: t) { thread in
                var i = thread
                while i < count {
                    job.body(i, thread)
                    i += t
                }
            }
        }
    }

    /// The body for the threads, whose callers guarantee disjoint writes (hence unchecked).
    private final class Job: @unchecked Sendable {
        let body: (Int, Int) -> Void
        init(body: @escaping (Int, Int) -> Void) { self.body = body }
    }
}
