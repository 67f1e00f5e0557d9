import CAPGCore
import Foundation

extension Trainer {
    /// Runs `body(qi, workspace)` for every qi < count: query qi on worker thread
    /// `qi mod T` (T = min(`workerThreads`, count)) with that thread's workspace. The callers
    /// write only to query qi's own slots (`StepBuffers.Rows`), so the threads never touch
    /// the same memory, and every per-query result is independent of T.
    func forEachQuery(_ count: Int, _ body: @escaping (Int, EstimatorWorkspace) -> Void) {
        let threads = max(1, min(workerThreads, count))
        while workspaces.count < threads { workspaces.append(EstimatorWorkspace()) }
        if threads == 1 {
            for qi in 0..<count { body(qi, workspaces[0]) }
            return
        }
        let job = QueryJob(body: body, pool: workspaces)
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            var qi = t
            while qi < count {
                job.body(qi, job.pool[t])
                qi += threads
            }
        }
    }
}

/// The per-query work handed to the worker threads of `Trainer.forEachQuery`, whose callers
/// guarantee that the threads write disjoint memory (hence `@unchecked Sendable`).
private final class QueryJob: @unchecked Sendable {
    let body: (Int, EstimatorWorkspace) -> Void
    let pool: [EstimatorWorkspace]
    init(body: @escaping (Int, EstimatorWorkspace) -> Void, pool: [EstimatorWorkspace]) { self.body = body; self.pool = pool }
}
