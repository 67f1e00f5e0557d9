import CAPGCore
import Foundation

/// Everything that defines a training run. Resolved from defaults, then a config file
/// (JSON object with these snake_case keys), then `--set key=value` and explicit flags,
/// and written back as `config.json` into the run directory.
public struct TrainingConfig: Codable, Equatable, Sendable {
    // Data
    /// Where queries come from: the embedded synthetic environment, LETOR/SVMlight files,
    /// or the Open Bandit Dataset with a fitted click model.
    public var data = DataKind.synthetic
    /// LETOR training and held-out files (`data = letor`).
    public var trainFile = ""
    public var testFile = ""
    /// Number of features F of the LETOR files (136 for MSLR-WEB).
    public var features = 136
    /// Largest LETOR relevance label allowed (a label above it, or a negative one, is an
    /// error naming FILE:LINE); the reward of label rel is `gain`'s `g(rel)/g(max_label)`.
    public var maxLabel = 4.0
    /// LETOR label gain: `exp2` (reward `(2^rel − 1)/(2^max − 1)`, DCG gain `2^rel − 1`) or
    /// `linear` (`rel/max`, DCG gain `rel`).
    public var gain = LabelGain.exp2
    /// Hidden units of the LETOR ESR: 0 = linear model over the features, > 0 = one-hidden-layer MLP.
    public var hidden = 0
    /// Directory holding the OBD CSVs (`data = obd`; e.g. `data/obd/random/all`).
    public var obdDir = ""
    /// Fraction of the OBD log (by row order) used for fitting the click model and training;
    /// the rest is held out for evaluation.
    public var obdTrainFraction = 0.8
    /// OBD click model features: `item` (item one-hot + position: the only model that beats a
    /// constant click rate on the sample's held-out rows) or `full` (adds user, affinity, item
    /// features and user × item interactions; contexts then matter, but it does not beat the
    /// constant rate on the 38-click sample).
    public var obdClickModel = "item"
    /// Discrete users of the paper's world (`data = paper`); query id q is user `q mod users`.
    public var users = 1000
    /// The paper world's LSR (`data = paper`): `optimal` (ℓ = q), `noisy` (ℓ = q + lsr_noise·ε),
    /// `uniform` (constant ℓ, the LSR picks uniformly from S) or `anti` (ℓ = −q). See `PaperWorld`.
    public var lsrOptimality = LSROptimality.optimal
    /// `swr_candidates` as set; nil = by data (`swrCandidates`).
    public var swrCandidatesSetting: SwRCandidates? = nil
    /// Candidates of `vpg-swr` / `top1` (`SwRCandidates`): `swr_candidates` if set, else the
    /// PL top-K in the paper world (as the authors' code samples) and i.i.d. draws elsewhere.
    public var swrCandidates: SwRCandidates {
        swrCandidatesSetting ?? (data == .paper ? .plackettLuce : .withReplacement)
    }
    // Environment
    public var items = 10_000
    public var contextDim = 16
    public var rewardScale = 1.5
    public var biasMean = -3.0
    public var biasStd = 0.5
    public var lsrNoise = 0.05
    public var lsrTemperature = 0.0
    public var reward = RewardKind.bernoulli
    /// Synthetic fixed LSR alignment α in `ℓ(x,a) = α q(x,a) + lsr_noise · ε`: 1 aligned,
    /// 0 an LSR that ignores the reward, < 0 one that prefers bad items.
    public var lsrAlignment = 1.0
    /// How the LSR is trained: `fixed` (the environment's LSR), `lsr-only` (ESR frozen),
    /// `joint` (both every step) or `alternating` (blocks of `lsr_alternate_every` steps).
    public var lsrMode = LateStageMode.fixed
    /// Learning rate of the learned LSR's own optimizer (same kind as the ESR's).
    public var lsrLr = 0.01
    /// Block length of `lsr_mode = alternating` (ESR first).
    public var lsrAlternateEvery = 10
    /// External reward: a command started once per rank (`/bin/sh -c`) that speaks the
    /// scorer protocol on its stdin/stdout ("" = built-in reward).
    public var scorerCommand = ""
    /// External reward: the Unix socket of one scorer shared by all ranks ("" = none).
    public var scorerSocket = ""
    /// Seconds to wait for a scorer reply before stopping the run with an error.
    public var scorerTimeout = 30.0
    public var envSeed: UInt64 = 1
    /// Size of the training query set (query ids 0..<queries; contexts are generated per id).
    /// For `letor` and `obd` it is set from the data (queries of the training file, training
    /// rows of the log) when the data are read, so checkpoints record the real data position.
    public var queries = 1_000_000
    // ESR
    public var dim = 32
    public var initScale = 0.1
    // Estimator
    public var k = 50
    public var estimator = EstimatorKind.capg
    public var inclusion = InclusionModelKind.threshold
    public var baseline = BaselineKind.none
    public var baselineDecay = 0.9
    public var samples = 1
    // Optimization
    public var optimizer = OptimizerKind.adam
    public var lr = 0.05
    public var batchSize = 64
    public var steps = 300
    public var seed: UInt64 = 0
    // Evaluation and logging
    public var evalQueries = 256
    public var evalSamples = 4
    public var evalEvery = 25
    public var logEvery = 1
    // Distributed
    /// Every this many steps the ranks compare a parameter fingerprint (0 = never).
    public var checkEvery = 50
    /// Seconds one collective may wait for the other ranks before the job is ended with a
    /// report naming the ranks that did not arrive (0 = wait forever). See `StallPolicy`.
    public var stallTimeout = 600.0
    /// Item shards S of the process grid (P = Q × S ranks; 1 = data-parallel: every rank holds
    /// the whole item table). See `ProcessGrid`.
    public var itemShards = 1
    /// Queries scored at once per rank in item-sharded mode (bounds the score memory to
    /// 24 · chunk · N/S bytes); 0 = automatic (as many as fit 256 MiB, at most the local batch).
    public var queryChunk = 0
    /// Testing aid, not a user setting (left out of `keys`): "RANK:STEP[:nan]" makes that
    /// rank fail at that step ("" = off; see `InjectedFault`).
    public var injectFailure = ""
    // Checkpoints
    /// Write a checkpoint every this many steps (0 = only at the end of the run and on a
    /// stop signal).
    public var checkpointEvery = 100
    /// Checkpoint files kept in the checkpoint directory (older ones are deleted).
    public var keepCheckpoints = 3

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case data, trainFile = "train_file", testFile = "test_file", features, hidden, obdDir = "obd_dir"
        case maxLabel = "max_label", gain
        case obdTrainFraction = "obd_train_fraction", obdClickModel = "obd_click_model"
        case users, lsrOptimality = "lsr_optimality", swrCandidatesSetting = "swr_candidates"
        case items, contextDim = "context_dim", rewardScale = "reward_scale", biasMean = "bias_mean"
        case biasStd = "bias_std", lsrNoise = "lsr_noise", lsrTemperature = "lsr_temperature"
        case reward, lsrAlignment = "lsr_alignment", lsrMode = "lsr_mode", lsrLr = "lsr_lr"
        case lsrAlternateEvery = "lsr_alternate_every", scorerCommand = "scorer_command"
        case scorerSocket = "scorer_socket", scorerTimeout = "scorer_timeout"
        case envSeed = "env_seed", queries, dim, initScale = "init_scale", k, estimator
        case inclusion, baseline, baselineDecay = "baseline_decay", samples, optimizer, lr
        case batchSize = "batch_size", steps, seed, evalQueries = "eval_queries"
        case evalSamples = "eval_samples", evalEvery = "eval_every", logEvery = "log_every"
        case checkEvery = "check_every", stallTimeout = "stall_timeout", injectFailure = "inject_failure"
        case itemShards = "item_shards", queryChunk = "query_chunk"
        case checkpointEvery = "checkpoint_every", keepCheckpoints = "keep_checkpoints"
    }

    /// Every user setting, for `--help` and error messages. `set` also accepts the
    /// `testingKeys`, which are deliberately not advertised.
    public static var keys: [String] { CodingKeys.allCases.map(\.rawValue).filter { !testingKeys.contains($0) } }

    /// Keys that exist for the test suite only (fault injection under `mpirun`): accepted
    /// and written to `config.json` like any key, but not listed as settings.
    public static let testingKeys: Set<String> = ["inject_failure"]

    public var synthetic: SyntheticConfig {
        var c = SyntheticConfig()
        c.items = items; c.contextDim = contextDim; c.rewardScale = rewardScale
        c.biasMean = biasMean; c.biasStd = biasStd; c.lsrNoise = lsrNoise; c.seed = envSeed
        c.lsrAlignment = lsrAlignment
        return c
    }

    /// The paper world's parameters (`data = paper`): `users`, `items`, embedding dimension
    /// `context_dim`, reward scale `reward_scale`, `lsr_optimality`, `lsr_noise`, `env_seed`.
    public var paperWorld: PaperWorldConfig {
        PaperWorldConfig(users: users, items: items, dim: contextDim, rewardScale: rewardScale,
                         optimality: lsrOptimality, lsrNoise: lsrNoise, seed: envSeed)
    }

    /// The LSR temperature the run uses: `lsr_temperature`, except that the paper world's
    /// `uniform` LSR (constant scores) is a softmax at temperature 1, i.e. a uniform pick
    /// from S (the argmax would break the ties toward the ESR's first draw).
    public var lateStageTemperature: Double {
        data == .paper && lsrOptimality == .uniform ? 1 : lsrTemperature
    }

    /// The values `data = paper` puts in place of the global defaults of `items`,
    /// `context_dim`, `reward_scale` and `dim` (the paper's 1000 items, embeddings of
    /// dimension 10, reward scale 10); a key already set to another value keeps it.
    static let paperDefaults: [(key: String, global: Double, paper: Double)] = [
        ("items", 10_000, 1000), ("context_dim", 16, 10), ("reward_scale", 1.5, 10), ("dim", 32, 10),
    ]

    public var shape: TwoTowerShape { TwoTowerShape(items: items, embeddingDim: dim, contextDim: contextDim) }

    /// Every trained parameter tensor in checkpoint order: the ESR's (`esrParameterTensors`),
    /// then the learned LSR's weights `lsr.w` (F) when `lsr_mode` is not `fixed`. A pure
    /// function of the configuration, so a checkpoint's layout can be checked before any
    /// data is read.
    public var parameterTensors: [ParameterTensor] {
        let esr = esrParameterTensors
        guard lsrFeatureCount > 0 else { return esr }
        let end = esr.reduce(0) { $0 + $1.shape.reduce(1, *) }
        return esr + [ParameterTensor(name: "lsr.w", offset: end, shape: [lsrFeatureCount])]
    }

    /// F of the learned LSR's features ψ(x, a) (`LateStageFeaturized`), 0 for a fixed LSR:
    /// synthetic `context_dim + 2`, LETOR `features + 1`.
    public var lsrFeatureCount: Int {
        guard lsrMode.learnsLSR else { return 0 }
        switch data {
        case .synthetic: return contextDim + 2
        case .letor: return features + 1
        case .obd, .paper: return 0
        }
    }

    /// The parameter tensors of the ESR this configuration trains, in flat-buffer order.
    public var esrParameterTensors: [ParameterTensor] {
        switch data {
        case .synthetic, .obd, .paper:
            return shape.tensors.map { ParameterTensor(name: $0.name, offset: $0.offset, shape: $0.shape) }
        case .letor where hidden == 0:
            return [ParameterTensor(name: "w", offset: 0, shape: [features]),
                    ParameterTensor(name: "b", offset: features, shape: [1])]
        case .letor:
            let m = MLPESR(featureCount: features, hidden: hidden)
            return [ParameterTensor(name: "W1", offset: m.wOffset, shape: [hidden, features]),
                    ParameterTensor(name: "c1", offset: m.cOffset, shape: [hidden]),
                    ParameterTensor(name: "v", offset: m.vOffset, shape: [hidden]),
                    ParameterTensor(name: "b", offset: m.bOffset, shape: [1])]
        }
    }

    /// Data-derived tensors a checkpoint of this configuration stores besides the trained
    /// parameters, because the model cannot be used without them: for `letor` the feature
    /// standardization `z_j = (x_j − μ_j)·(1/σ_j)` of the training file, `feature_mean` (μ,
    /// F) and `feature_inv_std` (1/σ, F; 0 for a constant column), stored as applied (1/σ
    /// rather than σ, so a reader reproduces the trained model's inputs bitwise). Checkpoint
    /// names get the prefix `data.`. None for the other tasks.
    public var dataTensorShapes: [(name: String, shape: [Int])] {
        switch data {
        case .letor: return [("feature_mean", [features]), ("feature_inv_std", [features])]
        case .synthetic, .obd, .paper: return []
        }
    }

    /// A one-line description of the task and model shape, e.g. "letor: MLP ESR over 136
    /// standardized features, 32 hidden units" (for `capg checkpoint inspect`).
    public var modelDescription: String {
        let lsr = lsrFeatureCount > 0 ? "; learned LSR (\(lsrMode.rawValue)) over \(lsrFeatureCount) features" : ""
        switch data {
        case .synthetic:
            return "synthetic: two-tower ESR, N=\(items) items, d=\(dim), context_dim=\(contextDim)" + lsr
        case .paper:
            return "paper world: two-tower ESR over \(users) users' embeddings, N=\(items) items, d=\(dim), embedding dim \(contextDim), LSR \(lsrOptimality.rawValue)"
        case .obd:
            return "obd (\(obdDir)): two-tower ESR, N=\(items) items, d=\(dim), context_dim=\(contextDim) (user features), click model \(obdClickModel)"
        case .letor where hidden == 0:
            return "letor: linear ESR over \(features) standardized features" + lsr
        case .letor:
            return "letor: MLP ESR over \(features) standardized features, \(hidden) hidden units" + lsr
        }
    }

    /// Total parameter count (ESR and learned LSR).
    public var parameterCount: Int { parameterTensors.reduce(0) { $0 + $1.shape.reduce(1, *) } }
}

/// A problem with the configuration, named precisely enough to fix.
public enum ConfigError: Error, CustomStringConvertible, Equatable {
    case unknownKey(String, source: String)
    case badValue(key: String, value: String, expected: String, source: String)
    case malformedOverride(String)
    case unreadableFile(String, reason: String)
    case invalid(String)

    public var description: String {
        switch self {
        case .unknownKey(let k, let src):
            return "unknown config key '\(k)' in \(src); valid keys: \(TrainingConfig.keys.joined(separator: ", "))"
        case .badValue(let k, let v, let e, let src):
            return "config key '\(k)' in \(src): '\(v)' is not \(e)"
        case .malformedOverride(let s):
            return "--set expects key=value, got '\(s)'"
        case .unreadableFile(let p, let r):
            return "cannot read config file \(p): \(r)"
        case .invalid(let m):
            return "invalid configuration: \(m)"
        }
    }
}

/// The source of training queries.
public enum DataKind: String, CaseIterable, Sendable, Codable {
    /// The embedded synthetic environment (`SyntheticEnvironment`).
    case synthetic
    /// LETOR/SVMlight files.
    case letor
    /// The Open Bandit Dataset with a fitted click model.
    case obd
    /// The paper's simulated world: discrete users and items with embeddings (`PaperWorld`).
    case paper
}
