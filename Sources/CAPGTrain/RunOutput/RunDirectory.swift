import Foundation

/// The files of one run: `config.json` (the resolved configuration), `metrics.jsonl` and
/// `metrics.csv` (one row per logged step, same columns, pandas-readable), `summary.json`.
/// Only rank 0 owns one.
public final class RunDirectory {
    public let url: URL
    private var jsonl: FileHandle
    private var csv: FileHandle
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
            throw TrainingError.io("cannot create run directory \(path): \(error.localizedDescription)")
        }
        let jsonlURL = url.appendingPathComponent("metrics.jsonl"), csvURL = url.appendingPathComponent("metrics.csv")
        var keptJSONL = "", keptCSV = ""
        if let resumedStep {
            keptJSONL = Self.rows(of: jsonlURL, header: false, upTo: resumedStep)
            keptCSV = Self.rows(of: csvURL, header: true, upTo: resumedStep)
            if !keptCSV.isEmpty { csvColumns = keptCSV.prefix { $0 != "\n" }.split(separator: ",").map(String.init) }
        }
        jsonl = try Self.create(jsonlURL)
        csv = try Self.create(csvURL)
        jsonl.write(Data(keptJSONL.utf8))
        csv.write(Data(keptCSV.utf8))
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

    private static func create(_ file: URL) throws -> FileHandle {
        guard FileManager.default.createFile(atPath: file.path, contents: nil),
              let h = FileHandle(forWritingAtPath: file.path) else {
            throw TrainingError.io("cannot create \(file.path): check that the run directory is writable")
        }
        return h
    }

    /// Writes a JSON value atomically (temp file + rename) as `name`.
    public func writeJSON(_ name: String, _ object: Any) throws {
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        let dest = url.appendingPathComponent(name)
        do {
            try (data + Data("\n".utf8)).write(to: dest, options: .atomic)
        } catch {
            throw TrainingError.io("cannot write \(dest.path): \(error.localizedDescription)")
        }
    }

    /// Appends one metrics row (ordered key/value pairs; the first row fixes the CSV columns).
    public func append(row: [(String, Any)]) throws {
        var dict: [String: Any] = [:]
        for (k, v) in row { dict[k] = v }
        let line = try JSONSerialization.data(withJSONObject: dict, options: [.sortedKeys])
        jsonl.write(line + Data("\n".utf8))
        if csvColumns == nil {
            csvColumns = row.map(\.0)
            csv.write(Data((csvColumns!.joined(separator: ",") + "\n").utf8))
        }
        let cells = csvColumns!.map { key -> String in
            guard let v = dict[key] else { return "" }
            if let d = v as? Double { return d.isFinite ? String(d) : "" }
            if v is NSNull { return "" }
            return "\(v)"
        }
        csv.write(Data((cells.joined(separator: ",") + "\n").utf8))
    }

    public func close() {
        try? jsonl.synchronize(); try? csv.synchronize()
        try? jsonl.close(); try? csv.close()
    }
}
