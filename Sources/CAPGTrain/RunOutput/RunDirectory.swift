import Foundation

/// The files of one run: `config.json` (the resolved configuration), `metrics.jsonl` and
/// `metrics.csv` (one row per logged step, same columns, pandas-readable), `summary.json`.
/// Only rank 0 owns one.
public final class RunDirectory {
    public let url: URL
    private var jsonl: FileHandle
    private var csv: FileHandle
    private var csvColumns: [String]?

    public init(path: String) throws {
        url = URL(fileURLWithPath: path, isDirectory: true)
        do {
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        } catch {
            throw TrainingError.io("cannot create run directory \(path): \(error.localizedDescription)")
        }
        jsonl = try Self.create(url.appendingPathComponent("metrics.jsonl"))
        csv = try Self.create(url.appendingPathComponent("metrics.csv"))
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
