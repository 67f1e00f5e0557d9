import CMPI
import Foundation

/// The communicator of a job launched by `mpirun`/`srun`: MPI_COMM_WORLD of Open MPI.
///
/// MPI is initialized once per process (`MPI_Init_thread` with `MPI_THREAD_FUNNELED`: only
/// the main thread calls MPI) and finalized by `finalize()`. Errors in collectives abort
/// the job (Open MPI's default MPI_ERRORS_ARE_FATAL), so no rank waits forever.
public final class MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int
    private var finalized = false

    /// True when this process was started by an MPI launcher (mpirun, srun --mpi=pmix).
    public static var launchedByMPI: Bool {
        let env = ProcessInfo.processInfo.environment
        return env["OMPI_COMM_WORLD_SIZE"] != nil || env["PMIX_RANK"] != nil || env["PMI_RANK"] != nil
    }

    public init() {
        var provided: Int32 = 0
        MPI_Init_thread(nil, nil, Int32(MPI_THREAD_FUNNELED), &provided)
        var r: Int32 = 0, s: Int32 = 0
        MPI_Comm_rank(capg_mpi_comm_world(), &r)
        MPI_Comm_size(capg_mpi_comm_world(), &s)
        rank = Int(r); size = Int(s)
    }

    public func allreduceSum(_ buffer: inout [Float]) {
        let n = buffer.count
        buffer.withUnsafeMutableBufferPointer { b in
            _ = MPI_Allreduce(capg_mpi_in_place(), b.baseAddress, Int32(n), capg_mpi_float(), capg_mpi_sum(), capg_mpi_comm_world())
        }
    }

    public func allreduceSum(_ buffer: inout [Double]) {
        let n = buffer.count
        buffer.withUnsafeMutableBufferPointer { b in
            _ = MPI_Allreduce(capg_mpi_in_place(), b.baseAddress, Int32(n), capg_mpi_double(), capg_mpi_sum(), capg_mpi_comm_world())
        }
    }

    public func allreduceMax(_ buffer: inout [Double]) {
        let n = buffer.count
        buffer.withUnsafeMutableBufferPointer { b in
            _ = MPI_Allreduce(capg_mpi_in_place(), b.baseAddress, Int32(n), capg_mpi_double(), capg_mpi_max(), capg_mpi_comm_world())
        }
    }

    public func broadcast(_ buffer: inout [UInt8], root: Int) {
        // Length first, so receivers can size their buffer.
        var count = [Double(buffer.count)]
        count.withUnsafeMutableBufferPointer { c in
            _ = MPI_Bcast(c.baseAddress, 1, capg_mpi_double(), Int32(root), capg_mpi_comm_world())
        }
        if rank != root { buffer = [UInt8](repeating: 0, count: Int(count[0])) }
        let n = buffer.count
        buffer.withUnsafeMutableBufferPointer { b in
            _ = MPI_Bcast(b.baseAddress, Int32(n), capg_mpi_byte(), Int32(root), capg_mpi_comm_world())
        }
    }

    public func barrier() { MPI_Barrier(capg_mpi_comm_world()) }

    public func abort(message: String, code: Int32) -> Never {
        FileHandle.standardError.write(Data("capg: rank \(rank) of \(size): error: \(message)\n".utf8))
        MPI_Abort(capg_mpi_comm_world(), code)
        exit(code)  // MPI_Abort does not return; this satisfies the type checker.
    }

    /// Ends MPI cleanly at the end of a successful run.
    public func finalize() {
        if !finalized { finalized = true; MPI_Finalize() }
    }
}
