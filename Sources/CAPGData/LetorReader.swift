import CAPGCore
import Foundation

/// How to read a LETOR/SVMlight file.
public struct LetorReadOptions: Sendable, Equatable {
    /// Declared number of features F = the largest allowed feature id (136 for MSLR-WEB).
    public var featureCount: Int
    /// This process's rank and the number of ranks: query number q (0-based, in file
    /// order) belongs to rank `q % size`.
    public var rank: Int = 0
    public var size: Int = 1
    /// Largest allowed relevance label (nil: any non-negative number). capg's trainer
    /// passes `max_label` (`--max-label`, default 4), which the message of a label above it names.
    public var maxLabel: Double? = nil
    /// true (default): every line of every query is fully parsed and validated, so an error
    /// anywhere in the file is reported on every rank. false: lines of queries owned by other
    /// ranks are checked only up to their label and qid (grouping, ordinals and labels are
    /// still exact), which skips the number parsing of the other ranks' features (≈ size×
    /// less parsing) at the price of not detecting bad feature tokens outside this shard.
    public var validateForeignQueries: Bool = true
    /// Throw `emptyShard` if this rank owns no query (default), or return an empty shard.
    public var allowEmptyShard: Bool = false
    /// Bytes per read(2) call.
    public var chunkSize: Int = 4 << 20
    /// Longest accepted line, in bytes (default 1 MiB): a dense line of the widest common
    /// format (Yahoo LTR, 700 features) is ~10 KB, so 1 MiB leaves room for ~50,000 dense
    /// features while a file with an endless line (`/dev/zero`, a binary file) fails at once
    /// with `FILE:LINE` instead of growing a buffer without limit.
    public var maxLineBytes: Int = 1 << 20

    public init(featureCount: Int, rank: Int = 0, size: Int = 1, maxLabel: Double? = nil,
                validateForeignQueries: Bool = true, allowEmptyShard: Bool = false) {
        self.featureCount = featureCount; self.rank = rank; self.size = size; self.maxLabel = maxLabel
        self.validateForeignQueries = validateForeignQueries; self.allowEmptyShard = allowEmptyShard
    }
}

/// What a read saw (global counts are over the whole file, not only this shard).
public struct LetorReadStatistics: Sendable, Equatable {
    public var bytes = 0
    /// Physical lines, including blank and comment-only lines.
    public var lines = 0
    /// Document lines in the whole file.
    public var documents = 0
    /// Queries in the whole file.
    public var queries = 0
    public var keptQueries = 0
    public var keptDocuments = 0
    /// Largest label in the whole file.
    public var maxLabel = 0.0
    public var seconds = 0.0

    public init() {}

    public var megabytesPerSecond: Double { Double(bytes) / 1e6 / max(seconds, 1e-9) }
    public var linesPerSecond: Double { Double(lines) / max(seconds, 1e-9) }
}

/// Streaming reader of LETOR/SVMlight ranking files:
///
///   `rel qid:Q id:value id:value … # comment`
///
/// - `rel`: non-negative label, an integer (0…4 in MSLR-WEB) or a decimal number (graded
///   ratings, click rates), at most `maxLabel`; `Q`: any token without blanks; ids 1...F in any
///   order, each at most once per line, missing ids are 0 (sparse and dense files alike);
///   values are decimal numbers and must be finite as Float;
/// - blank lines and comment-only lines are skipped; `\r\n` line ends are accepted;
/// - a query's documents must be contiguous (a qid seen again after another qid is an
///   error naming both lines).
///
/// The file is read in large chunks (`read(2)`, 4 MiB) and parsed in place from bytes,
/// with no `String` per token (only one per query, for its qid). Only this rank's queries
/// are stored (`LetorDataset`: one contiguous `D×F` Float matrix plus offsets), but every
/// line is parsed and validated (see `validateForeignQueries`). Cost: O(file bytes) time,
/// `4·(D_rank·F + D_rank)` bytes of output plus one chunk.
public enum LetorReader {
    /// Reads and shards the file at `path`.
    public static func read(path: String, options: LetorReadOptions) throws -> (dataset: LetorDataset, statistics: LetorReadStatistics) {
        try validate(options)
        let start = DispatchTime.now().uptimeNanoseconds
        let fd = open(path, O_RDONLY)
        guard fd >= 0 else { throw LetorError.cannotOpen(file: path, reason: String(cString: strerror(errno))) }
        defer { close(fd) }
        let parser = LetorLineParser(file: path, options: options)
        var capacity = max(options.chunkSize, 1)
        var buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity)
        defer { buffer.deallocate() }
        var filled = 0
        while true {
            let n = Foundation.read(fd, buffer + filled, capacity - filled)
            if n < 0 {
                if errno == EINTR { continue }
                throw LetorError.readFailed(file: path, reason: String(cString: strerror(errno)))
            }
            parser.statistics.bytes += n
            filled += n
            let eof = n == 0
            // Only the partial last line can exceed the cap without being seen by
            // `parseLine`: check it before growing anything.
            var lineStart = 0
            while lineStart < filled,
                  let nl = memchr(buffer + lineStart, 0x0A, filled - lineStart) {
                let lineEnd = buffer + lineStart + (UnsafeRawPointer(nl) - UnsafeRawPointer(buffer + lineStart))
                try parser.parseLine(UnsafePointer(buffer + lineStart), UnsafePointer(lineEnd))
                lineStart = lineEnd - buffer + 1
            }
            if eof {
                if lineStart < filled { try parser.parseLine(UnsafePointer(buffer + lineStart), UnsafePointer(buffer + filled)) }
                break
            }
            // Keep the partial last line at the front; grow if one line exceeds the buffer.
            let rest = filled - lineStart
            if rest > options.maxLineBytes {
                throw LetorError.lineTooLong(file: path, line: parser.statistics.lines + 1, limit: options.maxLineBytes)
            }
            if lineStart > 0 { memmove(buffer, buffer + lineStart, rest) }
            filled = rest
            if filled == capacity {
                let bigger = UnsafeMutablePointer<UInt8>.allocate(capacity: capacity * 2)
                bigger.update(from: buffer, count: filled)
                buffer.deallocate()
                buffer = bigger
                capacity *= 2
            }
        }
        let result = try parser.finish()
        var stats = result.statistics
        stats.seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        return (result.dataset, stats)
    }

    /// Parses in-memory text as if it were the file `name` (tests, small inputs).
    public static func parse(text: String, name: String, options: LetorReadOptions) throws -> (dataset: LetorDataset, statistics: LetorReadStatistics) {
        try validate(options)
        let parser = LetorLineParser(file: name, options: options)
        var bytes = Array(text.utf8)
        parser.statistics.bytes = bytes.count
        try bytes.withUnsafeMutableBufferPointer { b in
            guard let base = b.baseAddress else { return }
            var p = UnsafePointer(base)
            let end = UnsafePointer(base + b.count)
            while p < end {
                var q = p
                while q < end && q.pointee != 0x0A { q += 1 }
                try parser.parseLine(p, q)
                p = q + 1
            }
        }
        return try parser.finish()
    }

    static func validate(_ o: LetorReadOptions) throws {
        guard o.featureCount >= 1 else { throw LetorError.invalidOptions("featureCount must be ≥ 1, got \(o.featureCount)") }
        guard o.size >= 1 && o.rank >= 0 && o.rank < o.size else {
            throw LetorError.invalidOptions("rank \(o.rank) is not in 0..<\(o.size)")
        }
        if let m = o.maxLabel, !(m > 0 && m.isFinite) {
            throw LetorError.invalidOptions("the maximum label must be a positive number (--max-label, config key max_label), got \(m)")
        }
        guard o.maxLineBytes >= 1 else { throw LetorError.invalidOptions("maxLineBytes must be ≥ 1, got \(o.maxLineBytes)") }
    }
}

/// The per-line state machine of `LetorReader` (one instance per file; a class so that the
/// hot loop can hold raw pointers to its buffers without exclusivity conflicts).
final class LetorLineParser {
    let file: String
    let options: LetorReadOptions
    let f: Int
    var statistics = LetorReadStatistics()

    // Output buffers of this shard.
    var qids: [String] = []
    var ordinals: [Int] = []
    var offsets: [Int] = [0]
    var labels: [Float] = []
    var features: [Float] = []

    // Grouping state.
    var currentQid: [UInt8] = []
    var currentOwned = false
    var firstLineOfQid: [String: Int] = [:]
    /// `stamp[id] == line` marks ids already seen on the current line (duplicate check in O(1)).
    let stamp: UnsafeMutablePointer<Int>

    init(file: String, options: LetorReadOptions) {
        self.file = file; self.options = options; f = options.featureCount
        stamp = .allocate(capacity: options.featureCount + 1)
        stamp.initialize(repeating: 0, count: options.featureCount + 1)
    }

    deinit { stamp.deallocate() }

    @inline(__always) static func isBlank(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0D || c == 0x0B || c == 0x0C }

    func parseLine(_ lineStart: UnsafePointer<UInt8>, _ lineEnd: UnsafePointer<UInt8>) throws {
        statistics.lines += 1
        let line = statistics.lines
        guard lineEnd - lineStart <= options.maxLineBytes else {
            throw LetorError.lineTooLong(file: file, line: line, limit: options.maxLineBytes)
        }
        var p = lineStart
        // Content ends at the first '#'.
        var end = lineEnd
        if let hash = memchr(lineStart, 0x23, lineEnd - lineStart) {
            end = lineStart + (UnsafeRawPointer(hash) - UnsafeRawPointer(lineStart))
        }
        while p < end && Self.isBlank(p.pointee) { p += 1 }
        if p == end { return }  // blank or comment-only line
        // Label.
        var q = p
        while q < end && !Self.isBlank(q.pointee) { q += 1 }
        guard let parsed = ByteNumberParsing.parseDouble(p, q), Float(parsed).isFinite else {
            throw LetorError.invalidLabel(file: file, line: line, token: ByteNumberParsing.text(p, q))
        }
        // The label is stored as Float; checks use the stored value so that what is
        // validated is what is trained on.
        let label = Double(Float(parsed))
        guard label >= 0 else { throw LetorError.negativeLabel(file: file, line: line, label: label) }
        if let m = options.maxLabel, label > m {
            throw LetorError.labelOutOfRange(file: file, line: line, label: label, maxLabel: m)
        }
        p = q
        while p < end && Self.isBlank(p.pointee) { p += 1 }
        // qid:Q
        q = p
        while q < end && !Self.isBlank(q.pointee) { q += 1 }
        guard q - p > 4, p[0] == UInt8(ascii: "q"), p[1] == UInt8(ascii: "i"), p[2] == UInt8(ascii: "d"), p[3] == UInt8(ascii: ":") else {
            let found = p < end ? "'\(ByteNumberParsing.text(p, q))'" : "end of line"
            throw LetorError.malformedLine(file: file, line: line, reason: "expected 'qid:<id>' after the label, found \(found)")
        }
        try enterQuery(qid: UnsafeBufferPointer(start: p + 4, count: q - p - 4), line: line)
        p = q
        statistics.documents += 1
        statistics.maxLabel = max(statistics.maxLabel, label)
        let keep = currentOwned
        if keep {
            labels.append(Float(label))
            features.append(contentsOf: repeatElement(0, count: f))
            offsets[offsets.count - 1] += 1
        }
        guard keep || options.validateForeignQueries else { return }
        let rowBase = (labels.count - 1) * f
        let f = self.f, file = self.file, stamp = self.stamp
        try features.withUnsafeMutableBufferPointer { x in
            do {
                while true {
                    while p < end && Self.isBlank(p.pointee) { p += 1 }
                    if p == end { break }
                    q = p
                    var colon: UnsafePointer<UInt8>? = nil
                    while q < end && !Self.isBlank(q.pointee) {
                        if colon == nil && q.pointee == UInt8(ascii: ":") { colon = q }
                        q += 1
                    }
                    guard let c = colon, let id = ByteNumberParsing.parseNonNegativeInt(p, c), id >= 1 else {
                        if colon == nil {
                            throw LetorError.malformedLine(file: file, line: line,
                                reason: "token '\(ByteNumberParsing.text(p, q))' is not 'id:value'")
                        }
                        throw LetorError.invalidFeatureID(file: file, line: line, token: ByteNumberParsing.text(p, q))
                    }
                    guard id <= f else {
                        throw LetorError.featureIDOutOfRange(file: file, line: line, id: id, maxFeatureID: f)
                    }
                    guard stamp[id] != line else {
                        throw LetorError.duplicateFeatureID(file: file, line: line, id: id)
                    }
                    stamp[id] = line
                    guard let v = ByteNumberParsing.parseDouble(c + 1, q) else {
                        throw LetorError.invalidValue(file: file, line: line, featureID: id, token: ByteNumberParsing.text(c + 1, q))
                    }
                    let vf = Float(v)
                    guard vf.isFinite else {
                        throw LetorError.nonFiniteValue(file: file, line: line, featureID: id, token: ByteNumberParsing.text(c + 1, q))
                    }
                    if keep { x[rowBase + id - 1] = vf }
                    p = q
                }
            }
        }
    }

    /// Starts a new query when the qid changes; checks contiguity.
    func enterQuery(qid: UnsafeBufferPointer<UInt8>, line: Int) throws {
        if statistics.queries > 0 && currentQid.elementsEqual(qid) { return }
        let name = String(decoding: qid, as: UTF8.self)
        if let first = firstLineOfQid[name] {
            throw LetorError.queryNotContiguous(file: file, line: line, qid: name, firstLine: first,
                                                previousQid: String(decoding: currentQid, as: UTF8.self))
        }
        firstLineOfQid[name] = line
        currentQid = Array(qid)
        let ordinal = statistics.queries
        statistics.queries += 1
        currentOwned = ordinal % options.size == options.rank
        if currentOwned {
            qids.append(name)
            ordinals.append(ordinal)
            offsets.append(offsets[offsets.count - 1])
        }
    }

    func finish() throws -> (dataset: LetorDataset, statistics: LetorReadStatistics) {
        guard statistics.queries > 0 else { throw LetorError.emptyFile(file: file) }
        if qids.isEmpty && !options.allowEmptyShard {
            throw LetorError.emptyShard(file: file, rank: options.rank, size: options.size, queries: statistics.queries)
        }
        var s = statistics
        s.keptQueries = qids.count
        s.keptDocuments = labels.count
        let d = LetorDataset(featureCount: f, qids: qids, queryOrdinals: ordinals, documentOffsets: offsets,
                             labels: labels, features: features)
        return (d, s)
    }
}
