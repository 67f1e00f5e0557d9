import CAPGCore
import Foundation

/// Loads an Open Bandit Dataset campaign (the layout of `obp/dataset/obd/<policy>/<campaign>/`
/// in the `obp` package): the log `<campaign>.csv` with columns
/// `,timestamp,item_id,position,click,propensity_score,user_feature_0..3,user-item_affinity_0..N−1`
/// and `item_context.csv` with `,item_id,item_feature_0..3`.
///
/// Encoding: `user_feature_*` and `item_feature_*` columns that are all numbers are kept as
/// numbers, the others (hashed categories) become one-hot blocks over their sorted distinct
/// values; positions (1-based in the CSV) become 0-based; clicks must be 0/1. Every
/// malformed value is an `OBDError` with file and line. O(file size).
public enum OBDLoader {
    /// Loads `directory/<campaign>.csv` and `directory/item_context.csv`.
    public static func load(directory: String, campaign: String = "all") throws -> OBDLog {
        let d = URL(fileURLWithPath: directory)
        return try load(logFile: d.appendingPathComponent("\(campaign).csv").path,
                        itemContextFile: d.appendingPathComponent("item_context.csv").path)
    }

    public static func load(logFile: String, itemContextFile: String) throws -> OBDLog {
        try load(log: CSVTable(path: logFile), items: CSVTable(path: itemContextFile))
    }

    /// Parses in-memory CSV texts as if they were the files named (tests, fuzzing).
    public static func parse(logText: String, logName: String, itemContextText: String, itemContextName: String) throws -> OBDLog {
        try load(log: CSVTable(text: logText, file: logName), items: CSVTable(text: itemContextText, file: itemContextName))
    }

    static func load(log: CSVTable, items: CSVTable) throws -> OBDLog {
        // Items first: their count fixes the affinity columns and the id range.
        let idColumn = try items.column("item_id")
        let n = items.rows.count
        var order = [Int](repeating: -1, count: n)  // item id → row
        for r in 0..<n {
            let id = try items.int(row: r, column: idColumn)
            guard id >= 0 && id < n else { throw OBDError.itemOutOfRange(file: items.file, line: items.lines[r], item: id, itemCount: n) }
            guard order[id] < 0 else { throw OBDError.duplicateItem(file: items.file, line: items.lines[r], item: id) }
            order[id] = r
        }
        if let missing = order.firstIndex(of: -1) { throw OBDError.missingItem(file: items.file, item: missing, itemCount: n) }
        var itemNames: [String] = [], itemBlocks: [(width: Int, values: [Float])] = []
        for c in items.header.indices where items.header[c].hasPrefix("item_feature_") {
            let (names, values) = try items.encode(column: c)
            itemNames += names; itemBlocks.append((names.count, values))
        }
        let di = itemNames.count
        var itemFeatures = [Float](repeating: 0, count: n * di)
        for id in 0..<n {
            var k = 0
            for b in itemBlocks {
                for j in 0..<b.width { itemFeatures[id * di + k + j] = b.values[order[id] * b.width + j] }
                k += b.width
            }
        }

        let itemCol = try log.column("item_id"), posCol = try log.column("position"), clickCol = try log.column("click")
        let affinityCols = (0..<n).map { log.header.firstIndex(of: "user-item_affinity_\($0)") }
        let foundAffinity = log.header.filter { $0.hasPrefix("user-item_affinity_") }.count
        guard foundAffinity == n, affinityCols.allSatisfy({ $0 != nil }) else {
            throw OBDError.affinityColumns(file: log.file, found: foundAffinity, items: n)
        }
        let rows = log.rows.count
        var itemIDs = [Int32](repeating: 0, count: rows), positions = itemIDs
        var clicks = [Float](repeating: 0, count: rows)
        var affinities = [Float](repeating: 0, count: rows * n)
        var maxPosition = 0
        for r in 0..<rows {
            let id = try log.int(row: r, column: itemCol)
            guard id >= 0 && id < n else { throw OBDError.itemOutOfRange(file: log.file, line: log.lines[r], item: id, itemCount: n) }
            let pos = try log.int(row: r, column: posCol)
            guard pos >= 1 else {
                throw OBDError.invalidValue(file: log.file, line: log.lines[r], column: "position", value: "\(pos)", expected: "a 1-based position ≥ 1")
            }
            let click = try log.int(row: r, column: clickCol)
            guard click == 0 || click == 1 else {
                throw OBDError.invalidValue(file: log.file, line: log.lines[r], column: "click", value: "\(click)", expected: "0 or 1")
            }
            itemIDs[r] = Int32(id); positions[r] = Int32(pos - 1); clicks[r] = Float(click)
            maxPosition = max(maxPosition, pos)
            for a in 0..<n { affinities[r * n + a] = Float(try log.double(row: r, column: affinityCols[a]!)) }
        }
        var userNames: [String] = [], userBlocks: [(width: Int, values: [Float])] = []
        for c in log.header.indices where log.header[c].hasPrefix("user_feature_") {
            let (names, values) = try log.encode(column: c)
            userNames += names; userBlocks.append((names.count, values))
        }
        let du = userNames.count
        var userFeatures = [Float](repeating: 0, count: rows * du)
        for r in 0..<rows {
            var k = 0
            for b in userBlocks {
                for j in 0..<b.width { userFeatures[r * du + k + j] = b.values[r * b.width + j] }
                k += b.width
            }
        }
        return OBDLog(itemCount: n, positionCount: maxPosition, userFeatureNames: userNames, itemFeatureNames: itemNames,
                      userFeatures: userFeatures, affinities: affinities, itemFeatures: itemFeatures,
                      itemIDs: itemIDs, positions: positions, clicks: clicks)
    }
}
