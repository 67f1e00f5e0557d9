import CMPI
import Foundation

/// The communicator of a job launched by `mpirun`/`srun`: MPI_COMM_WORLD of Open MPI.
///
/// MPI is initialized once per process (`MPI_Init_thread` with `MPI_THREAD_FUNNELED`: only
/// the main thread calls MPI) and finalized by `finalize()`. Errors in collectives abort
/// the job (Open MPI's default MPI_ERRORS_ARE_FATAL), and a rank that dies is noticed by
/// mpirun, which ends the job.
///
/// A rank that does not die but stops answering (SIGSTOP, a wedged file system) is caught
/// here: every collective is started non-blocking (`MPI_Iallreduce`, `MPI_Ibcast`,
/// `MPI_Ibarrier`) and polled with `MPI_Test` against the `stall` deadline, while a stop
/// signal is watched (see `MPICommunicator+Stall.swift`). Polling costs nothing extra when
/// the collective completes quickly: the first `MPI_Test` is the same progress call a
/// blocking collective makes.
///
/// Large buffers are reduced in pieces of at most `maxChunkElements` elements, because MPI
/// counts are 32-bit (`int`): a single call with ≥ 2^31 elements would overflow.
public final class MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int
    /// The deadline and stop-signal behaviour of every collective.
    public var stall = StallPolicy.off
    /// Polled while waiting in a collective: true once a stop signal was received.
    public var stopRequested: () -> Bool = { false }
    /// Called just before the job is aborted for a stall (with the report and exit code),
    /// e.g. to leave a marker for the batch script. Must not call MPI.
    public var onGiveUp: ((StallReport, Int32) -> Void)?
    /// What the rank is doing, for stall messages (e.g. "step 17").
    public var activity = "start-up"
    /// Largest element count per MPI call (tests lower it to exercise the chunking).
    public var maxChunkElements = Int(Int32.max)

    let comm: MPI_Comm?
    /// A duplicate of `comm` for the stall inspector's point-to-point messages, so they can
    /// never match anything else.
    let probeComm: MPI_Comm?
    /// Collectives started so far (the same count on every rank: the contract of `Communicator`).
    var sequence = 0
    private var finalized = false

    /// True when this process was started by an MPI launcher (mpirun, srun --mpi=pmix).
    public static var launchedByMPI: Bool {
        let env = ProcessInfo.processInfo.environment
        return env["OMPI_COMM_WORLD_SIZE"] != nil || env["PMIX_RANK"] != nil || env["PMI_RANK"] != nil
    }

    public init() {
        var provided: Int32 = 0
        MPI_Init_thread(nil, nil, Int32(MPI_THREAD_FUNNELED), &provided)
        comm = capg_mpi_comm_world()
        var r: Int32 = 0, s: Int32 = 0
        MPI_Comm_rank(comm, &r)
        MPI_Comm_size(comm, &s)
        rank = Int(r); size = Int(s)
        var dup: MPI_Comm? = nil
        MPI_Comm_dup(comm, &dup)
        probeComm = dup
    }

    /// A sub-communicator made by `split`; it inherits the parent's stall settings.
    private init(subcommunicator sub: MPI_Comm?, parent: MPICommunicator) {
        comm = sub
        var r: Int32 = 0, s: Int32 = 0
        MPI_Comm_rank(sub, &r)
        MPI_Comm_size(sub, &s)
        rank = Int(r); size = Int(s)
        var dup: MPI_Comm? = nil
        MPI_Comm_dup(sub, &dup)
        probeComm = dup
        stall = parent.stall; stopRequested = parent.stopRequested; onGiveUp = parent.onGiveUp
        maxChunkElements = parent.maxChunkElements
        finalized = true  // MPI_Finalize belongs to the world communicator
    }

    public func split(color: Int, key: Int) -> any Communicator {
        var sub: MPI_Comm? = nil
        // MPI_Comm_split is blocking; it is called once at start-up, when every rank is alive.
        MPI_Comm_split(comm, Int32(color), Int32(key), &sub)
        sequence += 1
        let child = MPICommunicator(subcommunicator: sub, parent: self)
        child.activity = activity
        return child
    }

    /// `MPI_Iallgather` of equal-length Double vectors, in pieces of ≤ `maxChunkElements`
    /// per rank (each piece gathered into a scratch buffer, then placed).
    public func allgather(_ local: [Double]) -> [Double] {
        let n = local.count
        var out = [Double](repeating: 0, count: n * size)
        if n == 0 { return out }
        var start = 0
        var piece = [Double](repeating: 0, count: min(n, maxChunkElements) * size)
        while start < n {
            let m = min(n - start, maxChunkElements)
            local.withUnsafeBufferPointer { l in
                piece.withUnsafeMutableBufferPointer { p in
                    var request: MPI_Request? = capg_mpi_request_null()
                    _ = MPI_Iallgather(l.baseAddress! + start, Int32(m), capg_mpi_double(), p.baseAddress, Int32(m),
                                       capg_mpi_double(), comm, &request)
                    complete(&request, collective: "allgather of \(n) doubles")
                }
            }
            for r in 0..<size {
                for j in 0..<m { out[r * n + start + j] = piece[r * m + j] }
            }
            start += m
        }
        return out
    }

    public func allreduceSum(_ buffer: inout [Float]) {
        let n = buffer.count
        allreduce(&buffer, type: capg_mpi_float(), op: capg_mpi_sum(), what: "sum of \(n) floats")
    }

    public func allreduceSum(_ buffer: inout [Double]) {
        let n = buffer.count
        allreduce(&buffer, type: capg_mpi_double(), op: capg_mpi_sum(), what: "sum of \(n) doubles")
    }

    public func allreduceMax(_ buffer: inout [Double]) {
        let n = buffer.count
        allreduce(&buffer, type: capg_mpi_double(), op: capg_mpi_max(), what: "max of \(n) doubles")
    }

    /// In-place reduction in pieces of ≤ `maxChunkElements` (an elementwise op, so pieces
    /// reduce independently). Every rank makes the same calls (same count on every rank).
    private func allreduce<T>(_ buffer: inout [T], type: MPI_Datatype?, op: MPI_Op?, what: @autoclosure () -> String) {
        let n = buffer.count
        buffer.withUnsafeMutableBufferPointer { b in
            var start = 0
            repeat {
                let m = min(n - start, maxChunkElements)
                var request: MPI_Request? = capg_mpi_request_null()
                _ = MPI_Iallreduce(capg_mpi_in_place(), b.baseAddress.map { UnsafeMutableRawPointer($0 + start) },
                                   Int32(m), type, op, comm, &request)
                complete(&request, collective: "allreduce (\(what()))")
                start += m
            } while start < n
        }
    }

    public func broadcast(_ buffer: inout [UInt8], root: Int) {
        // Length first, so receivers can size their buffer.
        var count = [Int64(buffer.count)]
        count.withUnsafeMutableBufferPointer { c in
            var request: MPI_Request? = capg_mpi_request_null()
            _ = MPI_Ibcast(c.baseAddress, 1, capg_mpi_int64(), Int32(root), comm, &request)
            complete(&request, collective: "broadcast of a length from rank \(root)")
        }
        if rank != root { buffer = [UInt8](repeating: 0, count: Int(count[0])) }
        let n = buffer.count
        buffer.withUnsafeMutableBufferPointer { b in
            var start = 0
            while start < n {
                let m = min(n - start, maxChunkElements)
                var request: MPI_Request? = capg_mpi_request_null()
                _ = MPI_Ibcast(b.baseAddress.map { UnsafeMutableRawPointer($0 + start) }, Int32(m), capg_mpi_byte(),
                               Int32(root), comm, &request)
                complete(&request, collective: "broadcast of \(n) bytes from rank \(root)")
                start += m
            }
        }
    }

    /// Lengths first (an allgather of one double per rank), then one `MPI_Igatherv` per piece
    /// of ≤ `maxChunkElements` elements of the longest contribution.
    public func gather(_ local: [Float], root: Int) -> [Float] {
        let counts = allgather([Double(local.count)]).map { Int($0) }
        let total = counts.reduce(0, +), longest = counts.max() ?? 0
        var out = [Float](repeating: 0, count: rank == root ? total : 0)
        var offsets = [Int](repeating: 0, count: size)
        for r in 1..<max(1, size) { offsets[r] = offsets[r - 1] + counts[r - 1] }
        var start = 0
        while start < longest {
            let piece = min(longest - start, maxChunkElements)
            var pieceCounts = counts.map { Int32(max(0, min(piece, $0 - start))) }
            var pieceOffsets = [Int32](repeating: 0, count: size)
            var scratch = [Float](repeating: 0, count: rank == root ? pieceCounts.reduce(0) { $0 + Int($1) } : 0)
            for r in 1..<max(1, size) { pieceOffsets[r] = pieceOffsets[r - 1] + pieceCounts[r - 1] }
            let mine = Int(pieceCounts[rank])
            local.withUnsafeBufferPointer { l in
                scratch.withUnsafeMutableBufferPointer { sc in
                    var request: MPI_Request? = capg_mpi_request_null()
                    _ = MPI_Igatherv(mine > 0 ? UnsafeRawPointer(l.baseAddress! + start) : nil, Int32(mine), capg_mpi_float(),
                                     sc.baseAddress, &pieceCounts, &pieceOffsets, capg_mpi_float(), Int32(root), comm, &request)
                    complete(&request, collective: "gather of \(total) floats to rank \(root)")
                }
            }
            if rank == root {
                for r in 0..<size where pieceCounts[r] > 0 {
                    for j in 0..<Int(pieceCounts[r]) { out[offsets[r] + start + j] = scratch[Int(pieceOffsets[r]) + j] }
                }
            }
            start += piece
        }
        return out
    }

    /// Tag of the point-to-point messages (checkpoint pieces); collectives never match it.
    private static let pointToPointTag: Int32 = 42

    /// One message of ≤ `maxChunkElements` floats per piece, each waited for under the stall
    /// inspector (`MPI_Isend`).
    public func send(_ values: [Float], to peer: Int) {
        values.withUnsafeBufferPointer { v in
            var start = 0
            repeat {
                let m = min(values.count - start, maxChunkElements)
                var request: MPI_Request? = capg_mpi_request_null()
                _ = MPI_Isend(v.baseAddress.map { UnsafeRawPointer($0 + start) }, Int32(m), capg_mpi_float(), Int32(peer),
                              Self.pointToPointTag, comm, &request)
                complete(&request, collective: "send of \(values.count) floats to rank \(peer)")
                start += m
            } while start < values.count
        }
    }

    /// The counterpart of `send` (same piece boundaries).
    public func receive(count: Int, from peer: Int) -> [Float] {
        var out = [Float](repeating: 0, count: count)
        out.withUnsafeMutableBufferPointer { o in
            var start = 0
            repeat {
                let m = min(count - start, maxChunkElements)
                var request: MPI_Request? = capg_mpi_request_null()
                _ = MPI_Irecv(o.baseAddress.map { UnsafeMutableRawPointer($0 + start) }, Int32(m), capg_mpi_float(), Int32(peer),
                              Self.pointToPointTag, comm, &request)
                complete(&request, collective: "receive of \(count) floats from rank \(peer)")
                start += m
            } while start < count
        }
        return out
    }

    public func barrier() {
        var request: MPI_Request? = capg_mpi_request_null()
        _ = MPI_Ibarrier(comm, &request)
        complete(&request, collective: "barrier")
    }

    public func abort(message: String, code: Int32) -> Never {
        FileHandle.standardError.write(Data("capg: rank \(rank) of \(size): error: \(message)\n".utf8))
        MPI_Abort(comm, code)
        exit(code)  // MPI_Abort does not return; this satisfies the type checker.
    }

    /// Ends MPI cleanly at the end of a successful run.
    public func finalize() {
        if !finalized { finalized = true; MPI_Finalize() }
    }
}
