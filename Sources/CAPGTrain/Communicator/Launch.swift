import CAPGCore
import Foundation

/// How a process joins its job: MPI when started by a launcher, a single process otherwise,
/// with a deliberate OpenBLAS thread count.
public enum Launch {
    /// Rank from the launcher's environment, before MPI is initialized (nil when not under MPI).
    public static var environmentRank: Int? {
        let env = ProcessInfo.processInfo.environment
        return (env["OMPI_COMM_WORLD_RANK"] ?? env["PMIX_RANK"] ?? env["PMI_RANK"]).flatMap(Int.init)
    }

    /// Ranks on this node from the launcher's environment (1 when not under MPI).
    public static var localRanks: Int {
        let env = ProcessInfo.processInfo.environment
        return (env["OMPI_COMM_WORLD_LOCAL_SIZE"] ?? env["SLURM_NTASKS_PER_NODE"]).flatMap(Int.init) ?? 1
    }

    /// The communicator for this process. Under MPI, `CAPG_MPI_CHUNK_ELEMENTS` (if set to a
    /// positive integer) caps the elements per MPI call of a collective (default 2^31 − 1,
    /// the largest 32-bit count); the tests lower it to exercise the chunking.
    public static func communicator() -> any Communicator {
        guard MPICommunicator.launchedByMPI else { return SingleProcessCommunicator() }
        let mpi = MPICommunicator()
        if let text = ProcessInfo.processInfo.environment["CAPG_MPI_CHUNK_ELEMENTS"], let n = Int(text), n > 0 {
            mpi.maxChunkElements = min(n, Int(Int32.max))
        }
        return mpi
    }

    /// Largest `--blas-threads`: 4 × the cores this process sees. Threads beyond the cores
    /// only contend (the per-query loop and OpenBLAS both spin a thread per count), the
    /// factor 4 leaves room for oversubscribed test runs, and 100000 threads would exhaust
    /// the process's thread limit long before doing any work.
    public static var maximumBLASThreads: Int { 4 * max(1, ProcessInfo.processInfo.activeProcessorCount) }

    /// Checks an explicit `--blas-threads` value: nil (automatic) or 1...maximumBLASThreads.
    /// Throws `ConfigError.invalid` naming the option and the bound.
    public static func validateBLASThreads(_ requested: Int?) throws {
        guard let requested else { return }
        guard requested >= 1 && requested <= maximumBLASThreads else {
            throw ConfigError.invalid("--blas-threads must be in 1...\(maximumBLASThreads) (4 × the \(ProcessInfo.processInfo.activeProcessorCount) cores; got \(requested)); omit it for cores / ranks-per-node")
        }
    }

    /// Threads per rank for the GEMMs (`GEMM`, which runs OpenBLAS one thread per call and
    /// spreads its tiles itself) and the per-query loops. An explicit `requested` value
    /// wins; otherwise `OPENBLAS_NUM_THREADS`, if set, is respected; otherwise a rank gets
    /// `cores / ranks-on-this-node` threads (at least 1), so P ranks on a node never start
    /// P × cores threads. Returns the count in force.
    @discardableResult
    public static func configureBLASThreads(requested: Int?) -> Int {
        if let requested, requested > 0 {
            GEMM.setThreads(requested)
        } else if ProcessInfo.processInfo.environment["OPENBLAS_NUM_THREADS"] == nil {
            GEMM.setThreads(max(1, ProcessInfo.processInfo.activeProcessorCount / max(1, localRanks)))
        } else {
            GEMM.setThreads(GEMM.threads)
        }
        return GEMM.threads
    }
}
