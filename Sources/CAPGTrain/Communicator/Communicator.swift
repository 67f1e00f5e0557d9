/// The collective operations the trainer needs, so that the same step runs in one process
/// or across MPI ranks: a step is local gradient sum → `allreduceSum` → identical update.
///
/// Contract: every rank calls the same collectives in the same order with buffers of the
/// same length, from one thread. Reductions are sums.
public protocol Communicator: AnyObject {
    /// This process's rank in 0..<size.
    var rank: Int { get }
    /// Number of ranks P.
    var size: Int { get }
    /// What this rank is doing (e.g. "step 17"), named in stall reports.
    var activity: String { get set }
    /// In-place elementwise sum over ranks.
    func allreduceSum(_ buffer: inout [Float])
    /// In-place elementwise sum over ranks.
    func allreduceSum(_ buffer: inout [Double])
    /// In-place elementwise maximum over ranks.
    func allreduceMax(_ buffer: inout [Double])
    /// Waits for every rank.
    func barrier()
    /// Replaces `buffer` on every rank with rank `root`'s bytes.
    func broadcast(_ buffer: inout [UInt8], root: Int)
    /// Ends every rank of the job with `code` after printing `message` (MPI_Abort under MPI).
    func abort(message: String, code: Int32) -> Never
    /// Every rank's `local` (the same length on every rank), concatenated in rank order.
    func allgather(_ local: [Double]) -> [Double]
    /// Every rank's `local` (lengths may differ) concatenated in rank order on `root`; other
    /// ranks get an empty array.
    func gather(_ local: [Float], root: Int) -> [Float]
    /// Point to point: sends `values` to rank `to` (returns when the buffer may be reused).
    /// Messages between two ranks arrive in the order they were sent.
    func send(_ values: [Float], to: Int)
    /// Point to point: the next message of exactly `count` floats from rank `from`.
    func receive(count: Int, from: Int) -> [Float]
    /// The sub-communicator of the ranks that pass the same `color`, ordered by `key` (then
    /// by rank): `MPI_Comm_split`. Collective over this communicator.
    func split(color: Int, key: Int) -> any Communicator
}

extension Communicator {
    /// Rank 0 writes files and prints progress.
    public var isRoot: Bool { rank == 0 }
}
