import ArgumentParser
import CAPGTrain
import Foundation

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train the ESR on the synthetic environment and write a run directory.",
        discussion: """
        Run it alone or under an MPI launcher (mpirun -np P capg train ..., srun --mpi=pmix):
        ranks shard each global batch, one allreduce per step merges the gradients, and rank 0
        alone prints progress and writes the run directory: config.json (the resolved
        configuration), metrics.jsonl and metrics.csv (one row per logged step) and
        summary.json (final_value, final_normalized_value, recall, steps, wall_seconds,
        ranks, compute/allreduce/optimizer/io seconds, param_fingerprint).
        Exit codes: 0 success; 1 runtime error (any rank; under MPI the job is aborted with
        the rank named); 64 usage error.
        """)

    @OptionGroup var env: EnvironmentOptions

    @Option(help: "Candidate-set size K sampled by the ESR (default 50).")
    var k: Int?
    @Option(help: "Gradient estimator: vpg | capg | topk (default capg).")
    var estimator: String?
    @Option(help: "Rollouts per context per step M (default 1).")
    var samples: Int?
    @Option(name: .customLong("batch-size"), help: "Global batch B: queries per step over all ranks; must be divisible by the rank count (default 64).")
    var batchSize: Int?
    @Option(help: "Number of optimizer steps (default 300).")
    var steps: Int?
    @Option(help: "Learning rate (default 0.05).")
    var lr: Double?
    @Option(help: "Optimizer: adam | sgd (default adam).")
    var optimizer: String?
    @Option(name: .customLong("eval-every"), help: "Evaluate the policy every N steps (default 25).")
    var evalEvery: Int?
    @Option(name: .customLong("check-every"), help: "Compare a parameter fingerprint across ranks every N steps; 0 = never (default 50).")
    var checkEvery: Int?
    @Option(name: .customLong("blas-threads"), help: "OpenBLAS threads per rank (default: $OPENBLAS_NUM_THREADS if set, else cores / ranks on the node).")
    var blasThreads: Int?
    @Option(name: .customLong("run-dir"), help: "Run directory for config, metrics and summary (default runs/<estimator>-k<K>-seed<seed>).")
    var runDir: String?
    @Flag(help: "Print only the final summary line.")
    var quiet = false

    func resolvedConfig() throws -> TrainingConfig {
        var c = TrainingConfig()
        try env.resolve(into: &c)
        if let k { try c.set("k", String(k), source: "--k") }
        if let estimator { try c.set("estimator", estimator, source: "--estimator") }
        if let samples { try c.set("samples", String(samples), source: "--samples") }
        if let batchSize { try c.set("batch_size", String(batchSize), source: "--batch-size") }
        if let steps { try c.set("steps", String(steps), source: "--steps") }
        if let lr { try c.set("lr", String(lr), source: "--lr") }
        if let optimizer { try c.set("optimizer", optimizer, source: "--optimizer") }
        if let evalEvery { try c.set("eval_every", String(evalEvery), source: "--eval-every") }
        if let checkEvery { try c.set("check_every", String(checkEvery), source: "--check-every") }
        return c
    }

    func run() throws {
        // Configuration errors are found before MPI starts; every rank finds the same one,
        // so rank 0 alone reports it and all exit 64 (nobody is left in a collective).
        let c: TrainingConfig
        do {
            c = try resolvedConfig()
            let ranks = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"].flatMap(Int.init) ?? 1
            try c.validate(ranks: ranks)
        } catch let e as ConfigError {
            if let r = Launch.environmentRank, r != 0 { throw ExitCode(64) }
            throw ValidationError(e.description)
        }
        let comm = Launch.communicator()
        let threads = Launch.configureBLASThreads(requested: blasThreads)
        let dir = runDir ?? "runs/\(c.estimator.rawValue)-k\(c.k)-seed\(c.seed)"
        do {
            if comm.isRoot && !quiet { print("capg: \(comm.size) rank(s) × \(threads) OpenBLAS thread(s)") }
            let summary = try TrainingRun(config: c, runDirectory: dir, quiet: quiet).run(communicator: comm)
            if comm.isRoot {
                print(String(format: "result: value %.4f (random ESR %.4f, oracle %.4f)  normalized %.3f  recall %.3f  steps %d  %.1fs  fingerprint %@",
                             summary.finalValue, summary.randomValue, summary.oracleValue, summary.finalNormalizedValue,
                             summary.recall, summary.steps, summary.wallSeconds, String(summary.paramFingerprint.prefix(16))))
                print("run directory: \(dir)")
            }
        } catch {
            if comm.size > 1 { comm.abort(message: "\(error)", code: 1) }
            FileHandle.standardError.write(Data("capg: error: \(error)\n".utf8))
            throw ExitCode(1)
        }
        (comm as? MPICommunicator)?.finalize()
    }
}
