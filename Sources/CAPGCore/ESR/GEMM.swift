import CBLAS

/// Row-major single-precision matrix multiply through OpenBLAS:
/// `C ← α · op(A) · op(B) + β · C`, `op(A)` is m×k, `op(B)` is k×n, C is m×n.
/// Cost: 2·m·n·k flops at the machine's sgemm rate.
public enum GEMM {
    public enum Op { case none, transpose }

    @inlinable
    public static func sgemm(
        _ opA: Op, _ opB: Op, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
        b: UnsafePointer<Float>, ldb: Int,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        cblas_sgemm(
            CblasRowMajor,
            opA == .none ? CblasNoTrans : CblasTrans,
            opB == .none ? CblasNoTrans : CblasTrans,
            blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb),
            beta, c, blasint(ldc))
    }

    /// OpenBLAS worker threads used by each GEMM (`openblas_get_num_threads`).
    public static var threads: Int { Int(openblas_get_num_threads()) }

    /// Sets OpenBLAS's worker threads for this process (`openblas_set_num_threads`).
    public static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(n)) }
}
