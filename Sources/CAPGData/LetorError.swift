import CAPGCore

/// Why a LETOR/SVMlight file could not be read. Every case that concerns the content names
/// the file and the 1-based line (`FILE:LINE: …`) and says what to change.
public enum LetorError: Error, CustomStringConvertible, Equatable {
    case cannotOpen(file: String, reason: String)
    case readFailed(file: String, reason: String)
    case invalidOptions(String)
    /// A line that is not `rel qid:Q id:value …`; `reason` says which part is wrong.
    case malformedLine(file: String, line: Int, reason: String)
    case invalidLabel(file: String, line: Int, token: String)
    case labelOutOfRange(file: String, line: Int, label: Double, maxLabel: Double)
    case negativeLabel(file: String, line: Int, label: Double)
    case invalidFeatureID(file: String, line: Int, token: String)
    case featureIDOutOfRange(file: String, line: Int, id: Int, maxFeatureID: Int)
    case duplicateFeatureID(file: String, line: Int, id: Int)
    case invalidValue(file: String, line: Int, featureID: Int, token: String)
    case nonFiniteValue(file: String, line: Int, featureID: Int, token: String)
    /// A qid reappears after other queries: the file's documents are not grouped by query.
    case queryNotContiguous(file: String, line: Int, qid: String, firstLine: Int, previousQid: String)
    /// The file holds no document line at all.
    case emptyFile(file: String)
    /// This rank owns no query (more ranks than queries).
    case emptyShard(file: String, rank: Int, size: Int, queries: Int)
    /// A line longer than `LetorReadOptions.maxLineBytes` (e.g. a binary file or /dev/zero).
    case lineTooLong(file: String, line: Int, limit: Int)

    public var description: String {
        switch self {
        case .cannotOpen(let f, let r):
            return "\(f): cannot open: \(r)"
        case .readFailed(let f, let r):
            return "\(f): read failed: \(r)"
        case .invalidOptions(let m):
            return "invalid LETOR reader options: \(m)"
        case .malformedLine(let f, let l, let r):
            return "\(f):\(l): malformed line: \(r); expected 'rel qid:Q id:value ... [# comment]'"
        case .invalidLabel(let f, let l, let t):
            return "\(f):\(l): relevance label '\(t)' is not a non-negative number (the first token of a line must be the graded relevance, e.g. 0..4)"
        case .labelOutOfRange(let f, let l, let v, let m):
            return "\(f):\(l): relevance label \(LabelText.format(v)) is above the declared maximum \(LabelText.format(m)); raise it with --max-label \(LabelText.format(v)) (config key max_label) or fix the data"
        case .negativeLabel(let f, let l, let v):
            return "\(f):\(l): relevance label \(LabelText.format(v)) is negative; labels must lie in [0, --max-label] (the reward gain needs a non-negative relevance): shift or fix the data"
        case .invalidFeatureID(let f, let l, let t):
            return "\(f):\(l): feature token '\(t)' is not 'id:value' with a positive integer id"
        case .featureIDOutOfRange(let f, let l, let id, let m):
            return "\(f):\(l): feature id \(id) is outside 1...\(m) (ids are 1-based; declare the right feature count, e.g. 136 for MSLR-WEB, 700 for Yahoo, 220 for Istella)"
        case .duplicateFeatureID(let f, let l, let id):
            return "\(f):\(l): feature id \(id) appears twice on the line"
        case .invalidValue(let f, let l, let id, let t):
            return "\(f):\(l): value '\(t)' of feature \(id) is not a number"
        case .nonFiniteValue(let f, let l, let id, let t):
            return "\(f):\(l): value '\(t)' of feature \(id) is not finite (NaN, infinite or beyond Float range); clean or impute it"
        case .queryNotContiguous(let f, let l, let q, let first, let prev):
            return "\(f):\(l): qid \(q) reappears after qid \(prev), but its documents already started at line \(first): a query's documents must be contiguous; group the file by qid (e.g. a stable sort on the qid column)"
        case .emptyFile(let f):
            return "\(f): no document lines (only blank or comment lines): every query needs at least one document"
        case .lineTooLong(let f, let l, let m):
            return "\(f):\(l): line longer than \(m) bytes: not a LETOR/SVMlight text file (binary data or a missing newline?)"
        case .emptyShard(let f, let r, let s, let q):
            return "\(f): rank \(r) of \(s) owns no query (the file has \(q) queries; query q goes to rank q mod \(s)): use at most \(q) ranks"
        }
    }
}
