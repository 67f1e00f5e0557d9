import Foundation

extension TrainingConfig {
    /// Keys that may differ between a checkpoint and the run that resumes from it: they
    /// change how long the run goes, what it logs, evaluates and checkpoints, but not the
    /// training trajectory (parameters after each step). Every other key defines the
    /// trajectory, so a difference there makes the checkpoint incompatible.
    public static let resumeMutableKeys: Set<String> = [
        "steps", "eval_queries", "eval_samples", "eval_every", "log_every", "check_every",
        "checkpoint_every", "keep_checkpoints", "inject_failure", "stall_timeout",
        // The grid and the chunking change where numbers are computed, not the trajectory
        // (up to float summation order); a checkpoint resumes onto another grid.
        "item_shards", "query_chunk",
        // Where the external scorer runs may change between job segments (a socket path with
        // a job id, a wrapper script); that it computes the same reward is the user's part.
        "scorer_command", "scorer_socket", "scorer_timeout",
    ]

    /// Keys that only the paper world reads: left out of the JSON (and so of the trajectory
    /// hash) of any other data kind, so checkpoints written before these keys existed keep
    /// their hash and still load.
    static let paperOnlyKeys: Set<String> = ["users", "lsr_optimality"]

    /// The config as a JSON object with snake_case keys.
    public var jsonObject: [String: Any] {
        // Encoding a struct of numbers, strings and enums cannot fail.
        let data = try! JSONEncoder().encode(self)
        let object = try! JSONSerialization.jsonObject(with: data) as! [String: Any]
        var kept = self.data == .paper ? object : object.filter { !Self.paperOnlyKeys.contains($0.key) }
        // Read by vpg-swr and top1 only: left out otherwise, so other runs' hashes are unchanged.
        // Stored only when set (its default follows `data`, which is stored), so a config
        // round-trips and runs that never set it keep their hashes.
        if swrCandidatesSetting == nil { kept["swr_candidates"] = nil }
        return kept
    }

    /// The config as canonical JSON text (sorted keys), as stored in checkpoints.
    public var canonicalJSON: String {
        let data = try! JSONSerialization.data(withJSONObject: jsonObject, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    /// SHA-256 (hex) of the canonical JSON of the trajectory-defining keys: two configs
    /// with the same hash train the same parameters step by step. O(keys).
    public var trajectoryHash: String { Self.trajectoryHash(ofJSONObject: jsonObject) }

    /// The trajectory hash of a config as stored (a JSON object): the same function as
    /// `trajectoryHash`, applied to the keys the file holds. A checkpoint's hash is checked
    /// this way, so a config key added after the file was written (at its default) does not
    /// make an intact older checkpoint look edited.
    public static func trajectoryHash(ofJSONObject object: [String: Any]) -> String {
        let kept = object.filter { !resumeMutableKeys.contains($0.key) }
        let data = try! JSONSerialization.data(withJSONObject: kept, options: [.sortedKeys])
        return SHA256.hex(data)
    }

    /// The trajectory-defining keys whose values differ between `self` (a checkpoint's
    /// config) and `run` (the config of the run that wants to resume), with both values
    /// as JSON text; empty when the checkpoint is compatible.
    public func resumeIncompatibilities(with run: TrainingConfig) -> [(key: String, checkpoint: String, run: String)] {
        let a = jsonObject, b = run.jsonObject
        func text(_ v: Any?) -> String {
            guard let v else { return "absent" }
            if let s = v as? String { return "\"\(s)\"" }
            return "\(v)"
        }
        return Set(a.keys).union(b.keys).subtracting(Self.resumeMutableKeys).sorted().compactMap { key in
            let x = text(a[key]), y = text(b[key])
            return x == y ? nil : (key, x, y)
        }
    }
}
