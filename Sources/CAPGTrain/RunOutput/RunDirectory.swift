import Foundation

/// The files of one run: `config.json` (the resolved configuration), `metrics.jsonl` and
/// `metrics.csv` (one row per logged step, same columns, pandas-readable), `summary.json`.
/// Only rank 0 owns one.
public final class RunDirectory {
    public let url: URL
    private var jsonl: AppendOnlyFile
    private var csv: AppendOnlyFile
    private var csvColumns: [String]?

    /// Creates (or empties) the metric files. With `resumingAfter: s` (a resume from a
    /// checkpoint at step s) the rows of steps ≤ s are kept and later rows, written by the
    /// interrupted segment after its last checkpoint, are dropped, so the files read as one
    /// uninterrupted run.
    public init(path: String, resumingAfter resumedStep: Int? = nil) throws {
        url = URL(fileURLWithPath: path, isDirectory: true)
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        } catch {
            let reason = (error as NSError).userInfo[NSUnderlyingErrorKey].map { "\($0)" } ?? error.localizedDescription
            throw TrainingError.io("cannot create run directory \(path): \(reason); choose a writable --run-dir")
        }
        let jsonlURL = url.appendingPathComponent("metrics.jsonl"), csvURL = url.appendingPathComponent("metrics.csv")
        var keptJSONL = "", keptCSV = ""
        if let resumedStep {
            keptJSONL = Self.rows(of: jsonlURL, header: false, upTo: resumedStep)
            keptCSV = Self.rows(of: csvURL, header: true, upTo: resumedStep)
            if !keptCSV.isEmpty { csvColumns = keptCSV.prefix { $0 != "\n" }.split(separator: ",").map(String.init) }
        }
        jsonl = try AppendOnlyFile(path: jsonlURL.path, truncate: true)
        csv = try AppendOnlyFile(path: csvURL.path, truncate: true)
        try jsonl.append(keptJSONL)
        try csv.append(keptCSV)
    }

    /// The complete lines of a metrics file whose step is ≤ `upTo` (and the CSV header line).
    private static func rows(of file: URL, header: Bool, upTo last: Int) -> String {
        guard let text = try? String(contentsOf: file, encoding: .utf8) else { return "" }
        var out = ""
        // The piece after the last newline is empty or a line cut short by a crash: dropped.
        for (i, line) in text.components(separatedBy: "\n").dropLast().enumerated() where !line.isEmpty {
            if header && i == 0 { out += line + "\n"; continue }
            let step: Int?
            if header {
                step = Int(line.prefix { $0 != "," })
            } else {
                let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
                step = obj?["step"] as? Int
            }
            if let step, step <= last { out += line + "\n" }
        }
        return out
    }

    /// Writes a JSON value atomically (temp file, fsync, rename) as `name`. Non-finite
    /// numbers, which JSON cannot hold, are an error naming the file (not Foundation's
    /// "NSCocoaErrorDomain … (nan) in JSON write").
    public func writeJSON(_ name: String, _ object: Any) throws {
        let dest = url.appendingPathComponent(name)
        guard JSONSerialization.isValidJSONObject(object) else {
            throw TrainingError.io("cannot write \(dest.path): the value holds a non-finite number (NaN or ±∞), which JSON cannot represent")
        }
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        try OutputFile.writeAtomically(dest.path, data + Data("\n".utf8))
    }

    /// Appends one metrics row (ordered key/value pairs; the first row fixes the CSV columns).
    public func append(row: [(String, Any)]) throws {
        var dict: [String: Any] = [:]
        for (k, v) in row { dict[k] = v }
        // A non-finite value (a diverging run) is written as null, as in the CSV: empty.
        for (k, v) in dict { if let d = v as? Double, !d.isFinite { dict[k] = NSNull() } }
        let line = try JSONSerialization.data(withJSONObject: dict, options: [.sortedKeys])
        try jsonl.append(String(decoding: line, as: UTF8.self) + "\n")
        if csvColumns == nil {
            csvColumns = row.map(\.0)
            try csv.append(csvColumns!.joined(separator: ",") + "\n")
        }
        let cells = csvColumns!.map { key -> String in
            guard let v = dict[key] else { return "" }
            if let d = v as? Double { return d.isFinite ? String(d) : "" }
            if v is NSNull { return "" }
            return "\(v)"
        }
        try csv.append(cells.joined(separator: ",") + "\n")
    }

    public func close() {
        jsonl.sync(); csv.sync()
    }
}
