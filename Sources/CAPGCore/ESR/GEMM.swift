import CBLAS
import Foundation
import Synchronization

/// Row-major single-precision matrix products through OpenBLAS, threaded by capg itself so
/// that every result is bitwise independent of the thread count:
/// `C ← α · op(A) · op(B) + β · C`, `op(A)` is m×k, `op(B)` is k×n, C is m×n.
///
/// Why not OpenBLAS's own threads: OpenBLAS partitions a GEMM by its thread count and its
/// per-element result depends on the partition (measured with OpenBLAS 0.3.21: 1 and 2
/// threads differ in the last bits on all three of the step's GEMMs, and so do row slices
/// of one single-threaded call), so `--blas-threads 1` and `2` trained different models.
/// Here OpenBLAS always runs one thread per call; a product is cut into tiles by a rule
/// that depends on its shape only (`GEMMTiling`), and the tiles run on `threads` worker
/// threads (`WorkerThreads`), each written by exactly one call.
///
/// Cost: 2·m·n·k flops at the machine's single-thread sgemm rate, divided over the threads
/// up to the tile count; a depth-split product (both m and n small, k large) adds one pass
/// over its m×n partial products per tile.
public enum GEMM {
    public enum Op { case none, transpose }

    /// The worker threads a tiled product is spread over; 0 = not set yet (see `threads`).
    private static let configuredThreads = Atomic<Int>(0)

    /// OpenBLAS pinned to one thread per call, done once before the first BLAS call of the
    /// process (Swift runs a static initializer exactly once, thread-safely).
    private static let singleThreadedBLAS: Void = openblas_set_num_threads(1)

    /// The default when nothing called `setThreads`: `OPENBLAS_NUM_THREADS` when it is a
    /// positive integer, else the cores this process sees. Read once, at the first use
    /// (`threads` is read per GEMM and per pass; building the environment dictionary each
    /// time cost a library caller that never set the count a dictionary per call).
    private static let defaultThreads: Int = {
        if let text = ProcessInfo.processInfo.environment["OPENBLAS_NUM_THREADS"], let v = Int(text), v > 0 { return v }
        return max(1, ProcessInfo.processInfo.activeProcessorCount)
    }()

    /// Threads per rank for GEMMs (and the other passes that follow `--blas-threads`): what
    /// `setThreads` set, else `defaultThreads`. O(1).
    public static var threads: Int {
        let n = configuredThreads.load(ordering: .relaxed)
        return n > 0 ? n : defaultThreads
    }

    /// Sets the threads per rank (values below 1 count as 1). O(1).
    public static func setThreads(_ n: Int) {
        _ = singleThreadedBLAS
        configuredThreads.store(max(1, n), ordering: .relaxed)
    }

    /// `C ← α · op(A) · op(B) + β · C` on `threads` threads (default `GEMM.threads`), tiled
    /// by `GEMMTiling(m:n:k:)`; bitwise the same for every thread count. Call it from one
    /// thread: a product large enough to tile starts its own workers.
    public static func sgemm(
        _ opA: Op, _ opB: Op, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int = GEMM.threads
    ) {
        _ = singleThreadedBLAS
        guard m > 0 && n > 0 else { return }
        let tiling = GEMMTiling(m: m, n: n, k: k)
        switch tiling.split {
        case .none:
            call(opA, opB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        case .rows:
            WorkerThreads.forEach(tiling.count, threads: threads) { t, _ in
                let r = tiling.range(t)
                // Rows r of op(A): A's rows (no transpose) or its columns (transpose).
                let at = opA == .none ? a + r.lowerBound * lda : a + r.lowerBound
                call(opA, opB, m: r.count, n: n, k: k, alpha: alpha, a: at, lda: lda, b: b, ldb: ldb,
                     beta: beta, c: c + r.lowerBound * ldc, ldc: ldc)
            }
        case .columns:
            WorkerThreads.forEach(tiling.count, threads: threads) { t, _ in
                let r = tiling.range(t)
                // Columns r of op(B): B's columns (no transpose) or its rows (transpose).
                let bt = opB == .none ? b + r.lowerBound : b + r.lowerBound * ldb
                call(opA, opB, m: m, n: r.count, k: k, alpha: alpha, a: a, lda: lda, b: bt, ldb: ldb,
                     beta: beta, c: c + r.lowerBound, ldc: ldc)
            }
        case .depth:
            depthSplit(opA, opB, m: m, n: n, tiling: tiling, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                       beta: beta, c: c, ldc: ldc, threads: threads)
        }
    }

    /// The depth split: partial products `P_t = op(A)[:, r_t] · op(B)[r_t, :]` over the
    /// tiles r_t of k (one per thread slot, each its own m×n block), then
    /// `C ← α · (((P_0 + P_1) + P_2) + …) + β · C` element by element in tile order (β = 0
    /// ignores C, as BLAS does), so the sum's order is fixed by the shape alone.
    /// Extra cost: tiles × m × n floats of memory and one pass over them.
    private static func depthSplit(
        _ opA: Op, _ opB: Op, m: Int, n: Int, tiling: GEMMTiling, alpha: Float, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int, threads: Int
    ) {
        let block = m * n
        let partials = UnsafeMutablePointer<Float>.allocate(capacity: tiling.count * block)
        defer { partials.deallocate() }
        WorkerThreads.forEach(tiling.count, threads: threads) { t, _ in
            let r = tiling.range(t)
            // Columns r of op(A) and rows r of op(B).
            let at = opA == .none ? a + r.lowerBound : a + r.lowerBound * lda
            let bt = opB == .none ? b + r.lowerBound * ldb : b + r.lowerBound
            call(opA, opB, m: m, n: n, k: r.count, alpha: 1, a: at, lda: lda, b: bt, ldb: ldb,
                 beta: 0, c: partials + t * block, ldc: n)
        }
        // Tile by tile into P_0 (contiguous, vectorized; the per-element order is the same
        // as summing each element's column of partials, which strode 4·m·n bytes per add
        // and took ≈ 20 ms at 256×64×10⁵).
        for t in 1..<tiling.count {
            let p = partials + t * block
            for e in 0..<block { partials[e] += p[e] }
        }
        for i in 0..<m {
            let row = c + i * ldc
            for j in 0..<n {
                let sum = partials[i * n + j]
                row[j] = beta == 0 ? alpha * sum : alpha * sum + beta * row[j]
            }
        }
    }

    /// One single-threaded OpenBLAS call.
    @inline(__always)
    private static func call(
        _ opA: Op, _ opB: Op, m: Int, n: Int, k: Int, alpha: Float, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        cblas_sgemm(
            CblasRowMajor,
            opA == .none ? CblasNoTrans : CblasTrans,
            opB == .none ? CblasNoTrans : CblasTrans,
            blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb),
            beta, c, blasint(ldc))
    }

    /// `y ← α · op(A) · x + β · y` for a row-major m×n `A` (op(A) is m×n or n×m), one
    /// OpenBLAS thread (so the result does not depend on any thread count). O(m·n).
    public static func sgemv(
        _ opA: Op, m: Int, n: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        x: UnsafePointer<Float>, beta: Float, y: UnsafeMutablePointer<Float>
    ) {
        _ = singleThreadedBLAS
        cblas_sgemv(CblasRowMajor, opA == .none ? CblasNoTrans : CblasTrans, blasint(m), blasint(n), alpha, a,
                    blasint(lda), x, 1, beta, y, 1)
    }
}
