import ArgumentParser
import CAPGTrain

/// Options shared by every command that builds the synthetic environment and ESR.
struct EnvironmentOptions: ParsableArguments {
    @Option(help: "JSON config file: an object of snake_case keys (see --set). Applied before --set and flags.")
    var config: String?

    @Option(name: .customLong("set"), help: ArgumentHelp(
        "Override one config key, key=value (repeatable; applied after --config).",
        discussion: "Keys: \(TrainingConfig.keys.joined(separator: ", "))"))
    var overrides: [String] = []

    @Option(help: "Number of items N in the synthetic universe (default 10000).")
    var items: Int?
    @Option(help: "ESR embedding dimension d (default 32).")
    var dim: Int?
    @Option(name: .customLong("context-dim"), help: "Context dimension dx (default 16).")
    var contextDim: Int?
    @Option(help: "Seed of the ESR initialization and of all training randomness (default 0).")
    var seed: UInt64?
    @Option(name: .customLong("env-seed"), help: "Seed of the synthetic environment: items, contexts, LSR noise (default 1).")
    var envSeed: UInt64?
    @Option(name: .customLong("lsr-noise"), help: "LSR score noise σ: ℓ = q + σ·ε. 0 = perfectly aligned LSR (default 0.05).")
    var lsrNoise: Double?
    @Option(name: .customLong("lsr-temperature"), help: "LSR softmax temperature τ₂ over the candidate set; 0 = argmax (default 0).")
    var lsrTemperature: Double?
    @Option(name: .customLong("lsr-alignment"), help: "Fixed LSR alignment α: ℓ = α·q + σ·ε (LETOR: α·label + σ·ε). 1 = aligned, 0 = blind to the reward, < 0 = prefers bad items (default 1).")
    var lsrAlignment: Double?
    @Option(name: .customLong("lsr-mode"), help: "LSR training: fixed (the environment's LSR) | lsr-only (train a linear LSR over item/context features, ESR frozen) | joint (both every step) | alternating (blocks of --lsr-alternate-every steps, ESR first). Learned modes need --lsr-temperature > 0 (default fixed).")
    var lsrMode: String?
    @Option(name: .customLong("lsr-lr"), help: "Learning rate of the learned LSR's own optimizer (same kind as --optimizer) (default 0.01).")
    var lsrLr: Double?
    @Option(name: .customLong("lsr-alternate-every"), help: "Block length in steps of --lsr-mode alternating (default 10).")
    var lsrAlternateEvery: Int?
    @Option(name: .customLong("lsr-optimality"), help: "LSR of --data paper: optimal (ℓ = q) | noisy (ℓ = q + σ·ε, σ = --lsr-noise) | uniform (random pick from S) | anti (ℓ = −q) (default optimal).")
    var lsrOptimality: String?
    @Option(help: "Discrete users of --data paper (default 1000).")
    var users: Int?
    @Option(help: "Reward: bernoulli (a click with probability q) or expected (r = q) (default bernoulli).")
    var reward: String?
    @Option(help: "Inclusion model for CA-PG: exact | threshold | independent | prefix (the paper code's heuristic 1 − Π_k(1 − p_k), capg's reading) | hybrid (threshold, exact race for items far above the threshold) (default threshold).")
    var inclusion: String?
    @Option(help: "V-PG baseline: none | mean (running mean) | loo (leave-one-out; needs --samples ≥ 2) (default none).")
    var baseline: String?

    /// Defaults, then --config, then --set, then explicit flags.
    func resolve(into c: inout TrainingConfig) throws {
        if let config { try c.apply(configFile: config) }
        try c.apply(overrides: overrides)
        if let items { try c.set("items", String(items), source: "--items") }
        if let dim { try c.set("dim", String(dim), source: "--dim") }
        if let contextDim { try c.set("context_dim", String(contextDim), source: "--context-dim") }
        if let seed { try c.set("seed", String(seed), source: "--seed") }
        if let envSeed { try c.set("env_seed", String(envSeed), source: "--env-seed") }
        if let lsrNoise { try c.set("lsr_noise", String(lsrNoise), source: "--lsr-noise") }
        if let lsrTemperature { try c.set("lsr_temperature", String(lsrTemperature), source: "--lsr-temperature") }
        if let lsrAlignment { try c.set("lsr_alignment", String(lsrAlignment), source: "--lsr-alignment") }
        if let lsrMode { try c.set("lsr_mode", lsrMode, source: "--lsr-mode") }
        if let lsrLr { try c.set("lsr_lr", String(lsrLr), source: "--lsr-lr") }
        if let lsrAlternateEvery { try c.set("lsr_alternate_every", String(lsrAlternateEvery), source: "--lsr-alternate-every") }
        if let lsrOptimality { try c.set("lsr_optimality", lsrOptimality, source: "--lsr-optimality") }
        if let users { try c.set("users", String(users), source: "--users") }
        if let reward { try c.set("reward", reward, source: "--reward") }
        if let inclusion { try c.set("inclusion", inclusion, source: "--inclusion") }
        if let baseline { try c.set("baseline", baseline, source: "--baseline") }
    }
}
