/// Why an Open Bandit Dataset CSV could not be loaded; content errors name file and line
/// (line 1 is the header).
public enum OBDError: Error, CustomStringConvertible, Equatable {
    case cannotRead(file: String, reason: String)
    case emptyFile(file: String)
    case missingColumn(file: String, column: String, header: [String])
    case fieldCount(file: String, line: Int, expected: Int, got: Int)
    case invalidValue(file: String, line: Int, column: String, value: String, expected: String)
    case itemOutOfRange(file: String, line: Int, item: Int, itemCount: Int)
    case duplicateItem(file: String, line: Int, item: Int)
    case missingItem(file: String, item: Int, itemCount: Int)
    case affinityColumns(file: String, found: Int, items: Int)

    public var description: String {
        switch self {
        case .cannotRead(let f, let r): return "\(f): cannot read: \(r)"
        case .emptyFile(let f): return "\(f): no data rows below the header"
        case .missingColumn(let f, let c, let h):
            return "\(f):1: required column '\(c)' is missing from the header (\(h.prefix(8).joined(separator: ","))\(h.count > 8 ? ",…" : "")); is this an Open Bandit Dataset file?"
        case .fieldCount(let f, let l, let e, let g):
            return "\(f):\(l): expected \(e) comma-separated fields like the header, found \(g) (truncated or corrupt row?)"
        case .invalidValue(let f, let l, let c, let v, let e):
            return "\(f):\(l): column '\(c)' has value '\(v)', expected \(e)"
        case .itemOutOfRange(let f, let l, let i, let n):
            return "\(f):\(l): item id \(i) is outside 0..<\(n) (item_context.csv lists \(n) items); log and item files must come from the same campaign"
        case .duplicateItem(let f, let l, let i):
            return "\(f):\(l): item id \(i) is listed twice"
        case .missingItem(let f, let i, let n):
            return "\(f): item id \(i) has no row (expected every id in 0..<\(n))"
        case .affinityColumns(let f, let found, let n):
            return "\(f):1: found \(found) 'user-item_affinity_K' columns but item_context.csv has \(n) items; they must match"
        }
    }
}
