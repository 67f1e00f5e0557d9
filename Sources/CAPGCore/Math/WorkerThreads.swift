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

    /// Runs `body(part)` for the contiguous parts of `0..<count`: P = min(threads,
    /// ⌊count / minimumPart⌋) parts (at least one) of ⌈count / P⌉ items (the last one
    /// shorter), part p on thread p. For a pass that writes each item once, in a fixed order
    /// within the item, so its result does not depend on the cut; `minimumPart` keeps parts
    /// large enough to pay for a thread. O(count) / P plus one `forEach`.
    public static func forEachPart(of count: Int, minimumPart: Int, threads: Int, _ body: (Range<Int>) -> Void) {
        let parts = max(1, min(threads, count / max(1, minimumPart)))
        let per = (count + parts - 1) / parts
        forEach(parts, threads: parts) { p, _ in
            let lo = p * per, hi = min(count, lo + per)
            if lo < hi { body(lo..<hi) }
        }
    }

    /// The body for the threads, whose callers guarantee disjoint writes (hence unchecked).
    private final class Job: @unchecked Sendable {
        let body: (Int, Int) -> Void
        init(body: @escaping (Int, Int) -> Void) { self.body = body }
    }
}
