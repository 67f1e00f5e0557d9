/// The 2-D process grid of item-sharded training: P = Q × S ranks, S item shards × Q query
/// groups. World rank r is (q, s) = (r / S, r mod S): query group q owns a slice of every
/// global batch (as a rank does in data-parallel mode), item shard s owns a contiguous range
/// of the catalogue (its rows of E and b and their optimizer state).
///
/// Two families of sub-communicators (one `MPI_Comm_split` each, at start-up):
/// - `items`: the S ranks of query group q. Everything that needs all N items of a query
///   (the top-K merge, the threshold solve's sums, log-sum-exps) reduces here.
/// - `replicas`: the Q ranks that hold shard s. Gradients of the shard's item rows are
///   summed here (each query group contributes its queries), so the dense N×d gradient is
///   never reduced over all P ranks.
/// With S = 1 the grid is the data-parallel layout: `items` has one rank and `replicas` is
/// every rank.
public final class ProcessGrid {
    public let world: any Communicator
    public let itemShards: Int
    public let queryGroups: Int
    /// This rank's item shard s and query group q.
    public let shard: Int
    public let group: Int
    public let items: any Communicator
    public let replicas: any Communicator

    /// Splits `world` (collective over it). `itemShards` must divide the rank count.
    public init(world: any Communicator, itemShards: Int) {
        precondition(itemShards >= 1 && world.size % itemShards == 0, "item shards must divide the rank count")
        self.world = world
        self.itemShards = itemShards
        queryGroups = world.size / itemShards
        shard = world.rank % itemShards
        group = world.rank / itemShards
        if itemShards == 1 {
            items = SingleProcessCommunicator()
            replicas = world
        } else {
            items = world.split(color: group, key: shard)
            replicas = world.split(color: shard, key: group)
        }
    }
}
