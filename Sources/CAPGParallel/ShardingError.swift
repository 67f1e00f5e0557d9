/// Errors of the item-sharded math (bad layouts and payloads; numerical trouble is reported
/// in results, not thrown).
public enum ShardingError: Error, Equatable, CustomStringConvertible {
    case invalidShard(itemCount: Int, shardCount: Int, index: Int)
    case scoreCountMismatch(expected: Int, got: Int)
    case payloadCountMismatch(expected: Int, got: Int)
    case chosenItemNotExcluded(Int)

    public var description: String {
        switch self {
        case .invalidShard(let n, let s, let i):
            return "invalid item shard \(i) of \(s) over \(n) items (need N ≥ 0, S ≥ 1, 0 ≤ index < S)"
        case .scoreCountMismatch(let e, let g):
            return "a shard's score row has \(g) entries, its item range \(e)"
        case .payloadCountMismatch(let e, let g):
            return "a reduced payload has \(g) entries, expected \(e)"
        case .chosenItemNotExcluded(let a):
            return "the chosen item \(a) is not in the partition's excluded set (its score must be known on every shard)"
        }
    }
}
