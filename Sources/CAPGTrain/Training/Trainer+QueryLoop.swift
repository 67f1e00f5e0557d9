import CAPGCore

extension Trainer {
    /// Runs `body(qi, workspace)` for every qi < count: query qi on worker thread
    /// `qi mod T` (T = min(`workerThreads`, count); `WorkerThreads`) with that thread's
    /// workspace. The callers write only to query qi's own slots (`StepBuffers.Rows`), so the
    /// threads never touch the same memory, and every per-query result is independent of T.
    func forEachQuery(_ count: Int, _ body: (Int, EstimatorWorkspace) -> Void) {
        let threads = max(1, min(workerThreads, count))
        while workspaces.count < threads { workspaces.append(EstimatorWorkspace()) }
        let pool = workspaces
        WorkerThreads.forEach(count, threads: threads) { qi, t in body(qi, pool[t]) }
    }
}
