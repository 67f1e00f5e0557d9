/// Large zero-filled arrays, zeroed on several threads: for the optimizer's state (2P
/// floats for Adam: 520 MB at N = 10⁶, d = 64), whose zero fill — and with it the first
/// touch of every page, where the kernel clears the page — was one serial pass of the
/// trainer's start-up (0.35 s of CPU at that size: perf samples).
public enum ParallelZeros {
    /// `[Float](repeating: 0, count: count)`, the contiguous parts of the range zeroed on
    /// `threads` threads (`WorkerThreads`; parts of at least 2¹⁸ floats). O(count / threads).
    public static func floats(_ count: Int, threads: Int) -> [Float] {
        precondition(count >= 0)
        return [Float](unsafeUninitializedCapacity: count) { b, initialized in
            if let base = b.baseAddress {
                WorkerThreads.forEachPart(of: count, minimumPart: 1 << 18, threads: threads) { part in
                    (base + part.lowerBound).initialize(repeating: 0, count: part.count)
                }
            }
            initialized = count
        }
    }
}
