import CAPGCore
import Foundation

extension TrainingConfig {
    /// Applies one `key=value` setting (from `--set`, a flag, or a config file entry).
    public mutating func set(_ key: String, _ value: String, source: String = "--set") throws {
        func int() throws -> Int {
            guard let v = Int(value.replacingOccurrences(of: "_", with: "")) else {
                throw ConfigError.badValue(key: key, value: value, expected: "an integer", source: source)
            }
            return v
        }
        func uint() throws -> UInt64 {
            guard let v = UInt64(value) else {
                throw ConfigError.badValue(key: key, value: value, expected: "a non-negative integer", source: source)
            }
            return v
        }
        func double() throws -> Double {
            guard let v = Double(value), v.isFinite else {
                throw ConfigError.badValue(key: key, value: value, expected: "a finite number", source: source)
            }
            return v
        }
        func choice<E: RawRepresentable & CaseIterable>(_: E.Type) throws -> E where E.RawValue == String {
            guard let v = E(rawValue: value) else {
                let names = E.allCases.map(\.rawValue).joined(separator: "|")
                throw ConfigError.badValue(key: key, value: value, expected: "one of \(names)", source: source)
            }
            return v
        }
        switch key.replacingOccurrences(of: "-", with: "_") {
        case "data":
            data = try choice(DataKind.self)
            if data == .paper {
                for d in Self.paperDefaults {
                    switch d.key {
                    case "items" where Double(items) == d.global: items = Int(d.paper)
                    case "context_dim" where Double(contextDim) == d.global: contextDim = Int(d.paper)
                    case "reward_scale" where rewardScale == d.global: rewardScale = d.paper
                    case "dim" where Double(dim) == d.global: dim = Int(d.paper)
                    default: break
                    }
                }
            }
        case "users": users = try int()
        case "lsr_optimality": lsrOptimality = try choice(LSROptimality.self)
        case "swr_candidates": swrCandidatesSetting = try choice(SwRCandidates.self)
        case "train_file": trainFile = value
        case "test_file": testFile = value
        case "features": features = try int()
        case "hidden": hidden = try int()
        case "max_label": maxLabel = try double()
        case "gain": gain = try choice(LabelGain.self)
        case "obd_dir": obdDir = value
        case "obd_train_fraction": obdTrainFraction = try double()
        case "obd_click_model":
            guard value == "item" || value == "full" else {
                throw ConfigError.badValue(key: key, value: value, expected: "item or full", source: source)
            }
            obdClickModel = value
        case "items": items = try int()
        case "context_dim": contextDim = try int()
        case "reward_scale": rewardScale = try double()
        case "bias_mean": biasMean = try double()
        case "bias_std": biasStd = try double()
        case "lsr_noise": lsrNoise = try double()
        case "lsr_temperature": lsrTemperature = try double()
        case "reward": reward = try choice(RewardKind.self)
        case "lsr_alignment": lsrAlignment = try double()
        case "lsr_mode": lsrMode = try choice(LateStageMode.self)
        case "lsr_lr": lsrLr = try double()
        case "lsr_alternate_every": lsrAlternateEvery = try int()
        case "scorer_command": scorerCommand = value
        case "scorer_socket": scorerSocket = value
        case "scorer_timeout": scorerTimeout = try double()
        case "stall_timeout": stallTimeout = try double()
        case "item_shards": itemShards = try int()
        case "query_chunk": queryChunk = try int()
        case "env_seed": envSeed = try uint()
        case "queries": queries = try int()
        case "dim": dim = try int()
        case "init_scale": initScale = try double()
        case "k": k = try int()
        case "estimator": estimator = try choice(EstimatorKind.self)
        case "inclusion": inclusion = try choice(InclusionModelKind.self)
        case "baseline": baseline = try choice(BaselineKind.self)
        case "baseline_decay": baselineDecay = try double()
        case "samples": samples = try int()
        case "optimizer": optimizer = try choice(OptimizerKind.self)
        case "lr": lr = try double()
        case "batch_size": batchSize = try int()
        case "steps": steps = try int()
        case "seed": seed = try uint()
        case "eval_queries": evalQueries = try int()
        case "eval_samples": evalSamples = try int()
        case "eval_every": evalEvery = try int()
        case "log_every": logEvery = try int()
        case "check_every": checkEvery = try int()
        case "checkpoint_every": checkpointEvery = try int()
        case "keep_checkpoints": keepCheckpoints = try int()
        case "inject_failure":
            guard value.isEmpty || Self.parseFailure(value) != nil else {
                throw ConfigError.badValue(key: key, value: value, expected: "RANK:STEP or RANK:STEP:nan", source: source)
            }
            injectFailure = value
        default: throw ConfigError.unknownKey(key, source: source)
        }
    }

    /// Applies `key=value` strings in order.
    public mutating func apply(overrides: [String]) throws {
        for o in overrides {
            guard let eq = o.firstIndex(of: "="), eq != o.startIndex else { throw ConfigError.malformedOverride(o) }
            try set(String(o[..<eq]).trimmingCharacters(in: .whitespaces),
                    String(o[o.index(after: eq)...]).trimmingCharacters(in: .whitespaces))
        }
    }

    /// Applies a JSON config file: an object whose keys are config keys; values are numbers
    /// or strings. Unknown keys, repeated keys and booleans are errors (a typo or a silently
    /// dropped value must not go unnoticed).
    public mutating func apply(configFile path: String) throws {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw ConfigError.unreadableFile(path, reason: error.localizedDescription)
        }
        try apply(json: data, source: path)
    }

    /// Applies a JSON object of config keys (a config file's or a checkpoint's text);
    /// `source` names it in error messages. Keys absent from the object keep their values.
    public mutating func apply(json data: Data, source: String) throws {
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw ConfigError.unreadableFile(source, reason: "not valid JSON (\(error.localizedDescription))")
        }
        guard let dict = object as? [String: Any] else {
            throw ConfigError.unreadableFile(source, reason: "top level must be a JSON object of key: value")
        }
        var seen = Set<String>()
        for key in JSONObjectKeys.keys(data) where !seen.insert(key).inserted {
            throw ConfigError.badValue(key: key, value: "given twice", expected: "given once (JSON keeps only the last of repeated keys; remove one)", source: source)
        }
        for key in dict.keys.sorted() {
            let v = dict[key]!
            let text: String
            switch v {
            case let s as String: text = s
            // A JSON boolean is an NSNumber of type char ("c") after parsing: `true` would
            // otherwise read as 1 (a valid value for most keys), so refuse it.
            case let n as NSNumber where String(cString: n.objCType) == "c":
                throw ConfigError.badValue(key: key, value: "\(n.boolValue)", expected: "a number or a string (JSON booleans are not config values)", source: source)
            case let n as NSNumber:
                text = n.stringValue
            default:
                throw ConfigError.badValue(key: key, value: "\(v)", expected: "a number or a string", source: source)
            }
            try set(key, text, source: source)
        }
    }

    /// Largest `samples` (rollouts per context per step). Each rollout costs a PL sample,
    /// a reward and an estimator term per query, so the step cost is linear in M while the
    /// estimator's standard error only falls as 1/√M: at 4096 it is already 64× below M = 1,
    /// and 16,777,215 (the old bound, the Philox sample-index range) ran without end.
    public static let maximumSamples = 4096
    /// Largest `eval_samples` (Monte-Carlo draws per evaluation context when enumeration is
    /// too big). 10^5 draws put the value's Monte-Carlo error at ~0.3% of its spread per
    /// context, below the spread across evaluation contexts; 10^8 made one evaluation of
    /// 256 contexts take hours.
    public static let maximumEvalSamples = 100_000

    /// Cross-field checks; every message says what to change.
    public func validate(ranks: Int = 1) throws {
        func need(_ ok: Bool, _ msg: String) throws { if !ok { throw ConfigError.invalid(msg) } }
        switch data {
        case .synthetic: break
        case .paper:
            try need(users >= 1 && users <= 10_000_000, "users must be in 1...10000000 (got \(users))")
        case .letor:
            try need(!trainFile.isEmpty && !testFile.isEmpty, "data letor needs --train FILE and --test FILE (LETOR/SVMlight)")
            try need(features >= 1, "features must be ≥ 1 (got \(features))")
            try need(hidden >= 0, "hidden must be ≥ 0 (got \(hidden))")
            try need(maxLabel > 0 && maxLabel <= 1000, "max_label (--max-label) must be in (0, 1000] (got \(maxLabel))")
        case .obd:
            try need(!obdDir.isEmpty, "data obd needs --obd-dir DIR (the folder with all.csv and item_context.csv)")
            try need(obdTrainFraction > 0 && obdTrainFraction < 1, "obd_train_fraction must be in (0, 1) (got \(obdTrainFraction))")
        }
        try need(items >= 2, "items must be ≥ 2 (got \(items))")
        try need(items <= Int(Int32.max), "items must be ≤ \(Int32.max) (a checkpoint dimension is 32-bit; got \(items)); memory is checked separately (MemoryFootprint)")
        try need(contextDim >= 1, "context_dim must be ≥ 1 (got \(contextDim))")
        try need(dim >= 1, "dim must be ≥ 1 (got \(dim))")
        // Tensor dimensions fit in 31 bits, so the products and sums of `parameterTensors`
        // (at most two dimensions multiplied, then a few terms added) cannot overflow Int:
        // a config read from a crafted checkpoint must fail here, not trap.
        for (key, v) in [("dim", dim), ("context_dim", contextDim), ("features", features), ("hidden", hidden)] {
            try need(v <= Int(Int32.max), "\(key) must be ≤ \(Int32.max) (got \(v))")
        }
        try need(k >= 1, "k must be ≥ 1 (got \(k))")
        try need(data == .letor || k <= items, "k (\(k)) must not exceed items (\(items))")
        try need(samples >= 1 && samples <= Self.maximumSamples,
                 "samples must be in 1...\(Self.maximumSamples) rollouts per context (got \(samples)); the estimator's variance falls as 1/M, so past a few thousand only the cost grows — raise batch_size instead")
        try need(!((estimator == .vpg || estimator == .vpgSwr) && baseline == .loo && samples < 2),
                 "baseline loo needs samples ≥ 2 (got \(samples)); set --samples 2 or use --baseline mean")
        try need(baselineDecay >= 0 && baselineDecay < 1, "baseline_decay must be in [0, 1) (got \(baselineDecay))")
        try need(lr > 0, "lr must be > 0 (got \(lr))")
        try need(batchSize >= 1, "batch_size must be ≥ 1 (got \(batchSize))")
        try need(itemShards >= 1, "item_shards must be ≥ 1 (got \(itemShards))")
        try need(ranks % itemShards == 0,
                 "item_shards (\(itemShards)) must divide the number of ranks (\(ranks)): P = query groups × item shards")
        let groups = max(1, ranks / itemShards)
        try need((data != .synthetic && data != .paper) || batchSize % groups == 0,
                 itemShards == 1 ? "batch_size (\(batchSize)) must be divisible by the number of ranks (\(ranks)) so every rank gets batch_size/ranks queries"
                                 : "batch_size (\(batchSize)) must be divisible by the number of query groups (\(groups) = \(ranks) ranks / \(itemShards) item shards)")
        try need(queryChunk >= 0, "query_chunk must be ≥ 0 (0 = automatic; got \(queryChunk))")
        if itemShards > 1 {
            try need(data == .synthetic, "item_shards > 1 is implemented for data synthetic only (LETOR, OBD and the paper world are small: use item_shards 1)")
            try need(!estimator.samplesWithReplacement,
                     "estimator \(estimator.rawValue) (candidates sampled with replacement) is not implemented with item_shards > 1; use item_shards 1 or estimator vpg|capg|topk|distill")
            try need(items >= itemShards, "items (\(items)) must be ≥ item_shards (\(itemShards))")
            try need(estimator != .capg || inclusion == .threshold,
                     "inclusion \(inclusion.rawValue) needs all N scores of a query on one rank; with item_shards > 1 use --inclusion threshold")
            try need(lsrMode == .fixed, "a learned LSR (lsr_mode \(lsrMode.rawValue)) is not available with item_shards > 1")
            try need(scorerCommand.isEmpty && scorerSocket.isEmpty, "an external scorer is not available with item_shards > 1")
        }
        try need(steps >= 0, "steps must be ≥ 0 (got \(steps))")
        try need(queries >= 1 && queries <= Int(UInt32.max), "queries must be in 1...\(UInt32.max) (got \(queries))")
        try need(lsrNoise >= 0, "lsr_noise must be ≥ 0 (got \(lsrNoise))")
        try need(lsrTemperature >= 0, "lsr_temperature must be ≥ 0 (0 = argmax; got \(lsrTemperature))")
        try need(lsrMode == .fixed || lsrTemperature > 0,
                 "lsr_mode \(lsrMode.rawValue) trains the LSR's softmax, which needs lsr_temperature > 0 (0 is the argmax, which has no gradient)")
        try need(lsrMode == .fixed || data != .obd, "lsr_mode \(lsrMode.rawValue) is not available for data obd (no LSR features); use data synthetic or letor")
        try need(lsrLr > 0, "lsr_lr must be > 0 (got \(lsrLr))")
        try need(lsrAlternateEvery >= 1, "lsr_alternate_every must be ≥ 1 (got \(lsrAlternateEvery))")
        try need(scorerCommand.isEmpty || scorerSocket.isEmpty, "set scorer_command or scorer_socket, not both")
        try need(scorerTimeout > 0, "scorer_timeout must be > 0 seconds (got \(scorerTimeout))")
        try need(stallTimeout >= 0 && stallTimeout.isFinite, "stall_timeout must be ≥ 0 seconds (0 = wait forever; got \(stallTimeout))")
        try need(initScale >= 0, "init_scale must be ≥ 0 (got \(initScale))")
        try need(evalQueries >= 1, "eval_queries must be ≥ 1 (got \(evalQueries))")
        try need(evalSamples >= 1 && evalSamples <= Self.maximumEvalSamples,
                 "eval_samples must be in 1...\(Self.maximumEvalSamples) (got \(evalSamples)); the Monte-Carlo error of the value falls as 1/√samples, raise eval_queries for more precision")
        try need(evalEvery >= 1, "eval_every must be ≥ 1 (got \(evalEvery))")
        try need(logEvery >= 1, "log_every must be ≥ 1 (got \(logEvery))")
        try need(checkEvery >= 0, "check_every must be ≥ 0 (got \(checkEvery))")
        try need(checkpointEvery >= 0, "checkpoint_every must be ≥ 0 (0 = only at the end and on a stop signal; got \(checkpointEvery))")
        try need(keepCheckpoints >= 1, "keep_checkpoints must be ≥ 1 (got \(keepCheckpoints))")
        if estimator == .capg && (inclusion == .exact || inclusion == .hybrid) && items > 20_000 {
            throw ConfigError.invalid("inclusion \(inclusion.rawValue) costs O(N·K) memory and time per sample (hybrid: per sample whose chosen item is far above the threshold); with items=\(items) use --inclusion threshold")
        }
    }

    /// `RANK:STEP[:nan]` → (rank, step, nan). `nan` poisons the gradient instead of throwing.
    static func parseFailure(_ text: String) -> (rank: Int, step: Int, nan: Bool)? {
        let parts = text.split(separator: ":")
        guard parts.count == 2 || (parts.count == 3 && parts[2] == "nan"),
              let r = Int(parts[0]), let s = Int(parts[1]), r >= 0, s >= 0 else { return nil }
        return (r, s, parts.count == 3)
    }

    /// The injected failure, if any.
    public var failure: (rank: Int, step: Int, nan: Bool)? { Self.parseFailure(injectFailure) }
}
