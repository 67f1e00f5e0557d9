import CAPGTrain

/// Which queries `capg retrieve` serves.
public enum QuerySelection {
    /// `A..<B` → A..<B (0 ≤ A < B), nil otherwise.
    public static func parseRange(_ text: String) -> Range<Int>? {
        let parts = text.components(separatedBy: "..<")
        guard parts.count == 2, let a = Int(parts[0]), let b = Int(parts[1]), a >= 0, a < b else { return nil }
        return a..<b
    }

    /// The evaluation ids of `task` (synthetic: held-out context ids 0..<eval_queries; LETOR:
    /// every query of the file; OBD: the held-out rows), or their first `count`, or (synthetic
    /// only, where any id names a context) the ids `range`.
    public static func ids(task: any TrainingTask, config: TrainingConfig, count: Int?, range: Range<Int>?) throws -> [Int] {
        if let range {
            guard config.data == .synthetic else {
                throw ServeError.invalidOption("--query-range names synthetic context ids; for \(config.data.rawValue) use --queries N (the first N held-out queries)")
            }
            guard range.upperBound <= Int(UInt32.max) else { throw ServeError.invalidOption("--query-range: ids must be below 2^32") }
            return Array(range)
        }
        if config.data == .synthetic, let count { return Array(0..<count) }
        let all = task.evaluationIDs(rank: 0, size: 1)
        return count.map { Array(all.prefix($0)) } ?? all
    }
}
