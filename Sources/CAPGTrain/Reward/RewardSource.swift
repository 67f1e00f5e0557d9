/// One rollout whose reward is asked of an external scorer: the query, the candidate set S
/// the ESR sampled (in sampling order) and the item the LSR chose from it.
public struct RewardRequestItem: Sendable, Equatable {
    /// The trainer's query id (synthetic: the context id; LETOR: the query ordinal in the file).
    public var queryID: Int
    /// The query's own key where the data has one (LETOR `qid`), else "".
    public var queryKey: String
    /// Sample index m of this rollout for its query (0..<samples).
    public var sample: Int
    /// The chosen item a (an item id; LETOR: the document's position in its query's list).
    public var chosen: Int
    /// The ordered candidate list σ.
    public var candidates: [Int]

    public init(queryID: Int, queryKey: String, sample: Int, chosen: Int, candidates: [Int]) {
        self.queryID = queryID; self.queryKey = queryKey; self.sample = sample
        self.chosen = chosen; self.candidates = candidates
    }
}

/// Where training rewards come from when they are not the environment's built-in draw: an
/// external scorer (a generator or judge). One call per training step and rank, carrying
/// all of that rank's rollouts, so a scorer can batch its work.
public protocol RewardSource: AnyObject {
    /// Rewards for `items`, in order (exactly `items.count` finite values). Throws a typed
    /// error naming the scorer and what went wrong (time-out, exit, garbage); never hangs.
    func rewards(step: Int, items: [RewardRequestItem]) throws -> [Double]
    /// Tells the scorer the run is over and releases it (idempotent).
    func close()
}
