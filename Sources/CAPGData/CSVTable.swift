import Foundation

/// A small in-memory CSV table (RFC 4180 subset: comma separator, optional double quotes
/// with `""` escapes, no newlines inside fields), with 1-based file line numbers for errors.
/// Meant for files of a few MB (OBD); O(bytes).
struct CSVTable {
    let file: String
    let header: [String]
    /// Data rows and their line numbers in the file.
    let rows: [[Substring]]
    let lines: [Int]

    init(path: String) throws {
        let text: String
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            text = String(decoding: data, as: UTF8.self)
        } catch {
            throw OBDError.cannotRead(file: path, reason: error.localizedDescription)
        }
        try self.init(text: text, file: path)
    }

    /// Parses `text` as if read from `file` (tests, fuzzing).
    init(text: String, file path: String) throws {
        file = path
        var rows: [[Substring]] = [], lines: [Int] = []
        var header: [String]? = nil
        var lineNumber = 0
        // "\r\n" is one Character (grapheme cluster) in Swift, so splitting on "\n" alone
        // would see a CRLF file as a single line: split on both.
        for raw in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            lineNumber += 1
            var line = raw
            if line.last == "\r" { line = line.dropLast() }
            if line.isEmpty { continue }
            let fields = Self.split(line)
            if header == nil {
                header = fields.map { String($0).trimmingCharacters(in: .whitespaces) }
                continue
            }
            guard fields.count == header!.count else {
                throw OBDError.fieldCount(file: path, line: lineNumber, expected: header!.count, got: fields.count)
            }
            rows.append(fields); lines.append(lineNumber)
        }
        guard let h = header, !rows.isEmpty else { throw OBDError.emptyFile(file: path) }
        self.header = h; self.rows = rows; self.lines = lines
    }

    static func split(_ line: Substring) -> [Substring] {
        if !line.contains("\"") { return line.split(separator: ",", omittingEmptySubsequences: false) }
        var out: [Substring] = []
        var field = "", quoted = false, i = line.startIndex
        while i < line.endIndex {
            let c = line[i]
            if quoted {
                if c == "\"" {
                    let n = line.index(after: i)
                    if n < line.endIndex && line[n] == "\"" { field.append("\""); i = n } else { quoted = false }
                } else { field.append(c) }
            } else if c == "\"" { quoted = true } else if c == "," { out.append(Substring(field)); field = "" } else { field.append(c) }
            i = line.index(after: i)
        }
        out.append(Substring(field))
        return out
    }

    func column(_ name: String) throws -> Int {
        guard let i = header.firstIndex(of: name) else { throw OBDError.missingColumn(file: file, column: name, header: header) }
        return i
    }

    func int(row r: Int, column c: Int) throws -> Int {
        let s = rows[r][c].trimmingCharacters(in: .whitespaces)
        if let v = Int(s) { return v }
        // Some exports write integers as floats ("3.0").
        if let d = Double(s), d == d.rounded(), abs(d) < 1e15 { return Int(d) }
        throw OBDError.invalidValue(file: file, line: lines[r], column: header[c], value: String(s.prefix(40)), expected: "an integer")
    }

    func double(row r: Int, column c: Int) throws -> Double {
        let s = rows[r][c].trimmingCharacters(in: .whitespaces)
        guard let v = Double(s), v.isFinite else {
            throw OBDError.invalidValue(file: file, line: lines[r], column: header[c], value: String(s.prefix(40)), expected: "a finite number")
        }
        return v
    }

    /// True if every value of the column is a finite number.
    func isNumeric(column c: Int) -> Bool {
        rows.allSatisfy { Double($0[c].trimmingCharacters(in: .whitespaces)).map { $0.isFinite } ?? false }
    }

    /// Encodes column c: numeric columns as themselves (one output column named `name`),
    /// categorical ones one-hot over their sorted distinct values (`name=value`).
    /// Returns names and a row-major `rows × width` block.
    func encode(column c: Int) throws -> (names: [String], values: [Float]) {
        let name = header[c]
        if isNumeric(column: c) {
            return ([name], try (0..<rows.count).map { Float(try double(row: $0, column: c)) })
        }
        let categories = Array(Set(rows.map { String($0[c]) })).sorted()
        let index = Dictionary(uniqueKeysWithValues: categories.enumerated().map { ($1, $0) })
        var v = [Float](repeating: 0, count: rows.count * categories.count)
        for r in 0..<rows.count { v[r * categories.count + index[String(rows[r][c])]!] = 1 }
        return (categories.map { "\(name)=\($0)" }, v)
    }
}
