import ArgumentParser
import CAPGCheckpoint
import CAPGServe
import CAPGTrain
import Foundation

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train the ESR (synthetic default, LETOR files or the Open Bandit Dataset) and write a run directory.",
        discussion: """
        Run it alone or under an MPI launcher (mpirun -np P capg train ..., srun --mpi=pmix): \
        ranks shard each global batch, one allreduce per step merges the gradients, and rank 0 \
        alone prints progress and writes the run directory: config.json (the resolved \
        configuration), metrics.jsonl and metrics.csv (one row per logged step) and \
        summary.json (final_value, final_normalized_value, recall, steps, wall_seconds, \
        ranks, compute/allreduce/optimizer/io seconds, param_fingerprint, completed).

        Checkpoints: rank 0 writes <checkpoint-dir>/ckpt-<step>.capgckpt every \
        --checkpoint-every steps, after the last step, and on a stop signal (atomically: \
        temp file, fsync, rename; the newest --keep-checkpoints are kept and `latest` names \
        the newest). --resume auto continues from the newest checkpoint that verifies (and \
        starts fresh if there is none), reporting newer ones it skipped; --resume PATH \
        requires that checkpoint. Only steps, evaluation, logging and checkpoint settings may \
        differ from the checkpoint's config; the rank count may differ too. At the same rank \
        count the resumed run is bitwise identical to an uninterrupted one.

        Run directory: a directory that holds an earlier run (config.json, metrics, \
        summary.json or checkpoints) is refused unless --resume (continue it) or --overwrite \
        (delete those files and start over) is given. Rank 0 holds an exclusive lock on \
        <run-dir>/capg.lock (flock; it records pid and host) for the whole run, so a second \
        trainer on the same run directory fails at once and names the first.

        Signals: SIGTERM or SIGUSR1 (Slurm: before preemption or, with --signal, before the \
        time limit) on any rank makes every rank finish the current step, write a checkpoint \
        and exit 75, so a batch script can requeue the job (e.g. `[ $? -eq 75 ] && scontrol \
        requeue $SLURM_JOB_ID`) and resume with --resume auto. Rank 0 also leaves the file \
        <run-dir>/stopped ("75 …"): mpirun that itself receives SIGTERM exits 1 whatever \
        its ranks return, so the batch scripts in cluster/slurm read the marker.

        Stalls: every collective waits at most --stall-timeout seconds for the other ranks \
        (default 600; 0 = forever). Then the job ends (exit 1) with a message naming the \
        step and the rank(s) that did not arrive. A stop signal that arrives while ranks \
        wait for each other is honoured within min(30 s, stall timeout / 2): if they meet, the normal stop runs; if \
        not, the job ends with exit 75 without a new checkpoint (a resume continues from the \
        newest committed one).

        Exit codes: 0 success; 1 runtime error (any rank; under MPI the job is aborted with \
        the rank named), including a checkpoint that cannot be resumed, and a stall; 64 \
        usage error; 75 stopped by SIGTERM/SIGUSR1 (requeue and resume).
        """)

    /// Exit code of a run stopped by SIGTERM/SIGUSR1 after checkpointing (EX_TEMPFAIL).
    static let stoppedExitCode: Int32 = 75

    @OptionGroup var env: EnvironmentOptions

    @Option(help: "Data: synthetic (embedded default) | letor (--train/--test SVMlight files) | obd (--obd-dir) | paper (the paper's world: 1000 users and items, embeddings of dim 10, reward σ(10⟨u,v⟩), LSR by --lsr-optimality; sets items/context_dim/reward_scale/dim to 1000/10/10/10 where they still hold the defaults).")
    var data: String?
    @Option(name: .customLong("train"), help: "LETOR/SVMlight training file (with --data letor), e.g. data/mslr/msn1.fold1.train.5k.txt.")
    var trainFile: String?
    @Option(name: .customLong("test"), help: "LETOR/SVMlight held-out file for evaluation (with --data letor).")
    var testFile: String?
    @Option(help: "Features per LETOR document (default 136, MSLR-WEB).")
    var features: Int?
    @Option(name: .customLong("max-label"), help: "Largest LETOR relevance label; a label above it (or a negative one) is an error naming FILE:LINE (default 4).")
    var maxLabel: Double?
    @Option(help: "LETOR label gain: exp2 (reward (2^rel − 1)/(2^max − 1), NDCG gain 2^rel − 1) | linear (rel/max, NDCG gain rel) (default exp2).")
    var gain: String?
    @Option(help: "LETOR ESR: 0 = linear model over the features, > 0 = MLP with this many hidden units (default 0).")
    var hidden: Int?
    @Option(name: .customLong("obd-dir"), help: "Folder with the Open Bandit Dataset's all.csv and item_context.csv (with --data obd), e.g. data/obd/random/all.")
    var obdDir: String?
    @Option(help: "Candidate-set size K sampled by the ESR (default 50; with LETOR, K ≥ a query's documents keeps them all).")
    var k: Int?
    @Option(help: "Gradient estimator: vpg | capg | topk | distill (on-policy distillation of the LSR, the non-RL baseline) | vpg-swr (V-PG, candidates sampled with replacement) | top1 (CA-PG-SwR = r·∇log softmax(s)_a, candidates with replacement) (default capg).")
    var estimator: String?
    @Option(help: "Rollouts per context per step M (default 1).")
    var samples: Int?
    @Option(name: .customLong("batch-size"), help: "Global batch B: queries per step over all ranks; must be divisible by the rank count (default 64).")
    var batchSize: Int?
    @Option(help: "Number of optimizer steps (default 300).")
    var steps: Int?
    @Option(help: "Learning rate (default 0.05).")
    var lr: Double?
    @Option(help: "Optimizer: adam | sgd | adagrad (default adam).")
    var optimizer: String?
    @Option(name: .customLong("eval-every"), help: "Evaluate the policy every N steps (default 25).")
    var evalEvery: Int?
    @Option(name: .customLong("check-every"), help: "Compare a parameter fingerprint across ranks every N steps; 0 = never (default 50).")
    var checkEvery: Int?
    @Option(name: .customLong("blas-threads"), help: "Threads per rank for the GEMMs and for the per-query sampling/estimator loop; results are bitwise the same for every count (default: $OPENBLAS_NUM_THREADS if set, else cores / ranks on the node).")
    var blasThreads: Int?
    @Option(name: .customLong("item-shards"), help: "Item shards S of the process grid: P = Q query groups × S item shards; each rank holds N/S items' rows of E and b and their optimizer state (synthetic data). 1 = data-parallel, every rank holds the whole table (default 1).")
    var itemShards: Int?
    @Option(name: .customLong("query-chunk"), help: "Item-sharded mode: queries scored at once per rank, bounding score memory to 24 · chunk · N/S bytes; 0 = automatic, as many as fit 256 MiB (default 0).")
    var queryChunk: Int?
    @Option(name: .customLong("stall-timeout"), help: "Seconds a collective may wait for the other ranks before the job ends with a report naming the ranks that did not arrive; 0 = wait forever (default 600).")
    var stallTimeout: Double?
    @Option(name: .customLong("scorer-command"), help: "External reward: a command started once per rank (/bin/sh -c, with CAPG_RANK and CAPG_RANKS set) that answers reward requests on its stdin/stdout (protocol: docs/scorer.md). Default: the built-in reward.")
    var scorerCommand: String?
    @Option(name: .customLong("scorer-socket"), help: "External reward: the Unix socket of one scorer shared by every rank (protocol: docs/scorer.md).")
    var scorerSocket: String?
    @Option(name: .customLong("scorer-timeout"), help: "Seconds to wait for the scorer's reply (and for a socket to accept) before stopping the run with an error (default 30).")
    var scorerTimeout: Double?
    @Option(name: .customLong("run-dir"), help: "Run directory for config, metrics and summary (default runs/<estimator>-k<K>-seed<seed>).")
    var runDir: String?
    @Option(help: ArgumentHelp("Resume: 'auto' (newest valid checkpoint in the checkpoint directory; fresh start if none) or a checkpoint file, `latest` pointer or directory.", valueName: "auto|PATH"))
    var resume: String?
    @Option(name: .customLong("checkpoint-dir"), help: "Checkpoint directory (default <run-dir>/checkpoints).")
    var checkpointDir: String?
    @Option(name: .customLong("checkpoint-every"), help: "Write a checkpoint every N steps; 0 = only at the end and on SIGTERM/SIGUSR1 (default 100).")
    var checkpointEvery: Int?
    @Option(name: .customLong("keep-checkpoints"), help: "Checkpoints to keep (default 3).")
    var keepCheckpoints: Int?
    @Flag(help: "Start over in a run directory that holds an earlier run: delete its config.json, metrics, summary.json and checkpoints first (without it such a directory is refused unless --resume is given).")
    var overwrite = false
    @Flag(help: "Print only the final summary line.")
    var quiet = false

    func resolvedConfig() throws -> TrainingConfig {
        var c = TrainingConfig()
        try env.resolve(into: &c)
        if let data { try c.set("data", data, source: "--data") }
        if let trainFile { try c.set("train_file", trainFile, source: "--train") }
        if let testFile { try c.set("test_file", testFile, source: "--test") }
        if let features { try c.set("features", String(features), source: "--features") }
        if let hidden { try c.set("hidden", String(hidden), source: "--hidden") }
        if let maxLabel { try c.set("max_label", String(maxLabel), source: "--max-label") }
        if let gain { try c.set("gain", gain, source: "--gain") }
        if let obdDir { try c.set("obd_dir", obdDir, source: "--obd-dir") }
        if let k { try c.set("k", String(k), source: "--k") }
        if let estimator { try c.set("estimator", estimator, source: "--estimator") }
        if let samples { try c.set("samples", String(samples), source: "--samples") }
        if let batchSize { try c.set("batch_size", String(batchSize), source: "--batch-size") }
        if let steps { try c.set("steps", String(steps), source: "--steps") }
        if let lr { try c.set("lr", String(lr), source: "--lr") }
        if let optimizer { try c.set("optimizer", optimizer, source: "--optimizer") }
        if let evalEvery { try c.set("eval_every", String(evalEvery), source: "--eval-every") }
        if let checkEvery { try c.set("check_every", String(checkEvery), source: "--check-every") }
        if let checkpointEvery { try c.set("checkpoint_every", String(checkpointEvery), source: "--checkpoint-every") }
        if let keepCheckpoints { try c.set("keep_checkpoints", String(keepCheckpoints), source: "--keep-checkpoints") }
        if let scorerCommand { try c.set("scorer_command", scorerCommand, source: "--scorer-command") }
        if let scorerSocket { try c.set("scorer_socket", scorerSocket, source: "--scorer-socket") }
        if let scorerTimeout { try c.set("scorer_timeout", String(scorerTimeout), source: "--scorer-timeout") }
        if let stallTimeout { try c.set("stall_timeout", String(stallTimeout), source: "--stall-timeout") }
        if let itemShards { try c.set("item_shards", String(itemShards), source: "--item-shards") }
        if let queryChunk { try c.set("query_chunk", String(queryChunk), source: "--query-chunk") }
        return c
    }

    func run() throws {
        // Configuration errors are found before MPI starts; every rank finds the same one,
        // so rank 0 alone reports it and all exit 64 (nobody is left in a collective).
        var c: TrainingConfig
        do {
            c = try resolvedConfig()
            try Launch.validateBLASThreads(blasThreads)
            let ranks = ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"].flatMap(Int.init) ?? 1
            try c.validate(ranks: ranks)
            // Before anything is allocated: fail now, with the estimate, rather than trap later.
            let threads = blasThreads ?? max(1, ProcessInfo.processInfo.activeProcessorCount / max(1, Launch.localRanks))
            try MemoryFootprint(config: c, ranks: ranks, threads: threads)
                .check(available: MemoryFootprint.available(ranksOnNode: Launch.localRanks), config: c, ranks: ranks)
        } catch let e as ConfigError {
            if let r = Launch.environmentRank, r != 0 { throw ExitCode(64) }
            throw ValidationError(e.description)
        }
        if overwrite && resume != nil {
            if let r = Launch.environmentRank, r != 0 { throw ExitCode(64) }
            throw ValidationError("--overwrite deletes the run directory's checkpoints and --resume continues from them: give one of them")
        }
        let comm = Launch.communicator()
        let threads = Launch.configureBLASThreads(requested: blasThreads)
        let dir = runDir ?? "runs/\(c.estimator.rawValue)-k\(c.k)-seed\(c.seed)"
        let ckptDir = checkpointDir ?? dir + "/checkpoints"
        if comm.isRoot { StopMarker.remove(runDirectory: dir) }
        if let mpi = comm as? MPICommunicator {
            mpi.stall = StallPolicy(timeout: c.stallTimeout, stopGrace: c.stallTimeout > 0 ? min(30, c.stallTimeout / 2) : 30,
                                    stoppedExitCode: Self.stoppedExitCode)
            mpi.stopRequested = { StopSignal.received != nil }
            mpi.onGiveUp = { report, code in
                if code == Self.stoppedExitCode {
                    StopMarker.write(runDirectory: dir, code: code, reason: "stop requested, no checkpoint (stall): \(report.activity)")
                }
            }
        }
        let summary: RunSummary
        // Rank 0 owns the run directory for the whole run (released when the process ends).
        var runLock: RunDirectoryLock?
        defer { runLock?.release() }
        do {
            try StopSignal.install()
            if comm.isRoot {
                runLock = try RunDirectoryLock(directory: dir)
                let removed = try RunDirectoryGuard.prepare(directory: dir, checkpointDirectory: ckptDir,
                                                            policy: resume != nil ? .resume : overwrite ? .overwrite : .fresh)
                if !removed.isEmpty && !quiet { print("capg: --overwrite: removed \(removed.count) file(s) of the earlier run in \(dir)") }
            }
            if comm.isRoot && !quiet { print("capg: \(comm.size) rank(s) × \(threads) OpenBLAS thread(s)") }
            let task = try TaskLoader.make(config: &c, communicator: comm, quiet: quiet)
            var resumed: ResumeResult?
            if let resume {
                let r = try ResumeLoader.load(ResumeSpec(resume), checkpointDirectory: ckptDir, config: c, communicator: comm)
                if let snap = r.snapshot { try DataTensorCheck.check(checkpoint: snap.dataTensors, run: task?.dataTensors ?? []) }
                if comm.isRoot {
                    for s in r.skipped { FileHandle.standardError.write(Data("capg: resume: skipped \(s)\n".utf8)) }
                    if let snap = r.snapshot, let path = r.path {
                        print(String(format: "capg: resumed from %@ at step %d (written by %d rank(s)); verified %.1f MB at %.0f MB/s",
                                     path, snap.state.step, snap.ranks, Double(r.bytes) / 1e6, r.megabytesPerSecond))
                    } else {
                        print("capg: resume auto: no checkpoint in \(ckptDir); starting at step 0")
                    }
                }
                resumed = r
            }
            // Item-sharded runs write checkpoints in parallel: every rank may write its pieces
            // (only rank 0 clears temp files of killed writers and commits).
            let sink: CheckpointSink? = comm.isRoot || c.itemShards > 1
                ? try CheckpointWriter(directory: ckptDir, keep: c.keepCheckpoints, removeTemporaryFiles: comm.isRoot) : nil
            let rewards = try RewardSources.make(config: c, rank: comm.rank, ranks: comm.size)
            if let scorer = rewards as? ExternalScorer, comm.isRoot && !quiet {
                print("capg: rewards from the external scorer '\(scorer.scorerName)' (\(scorer.name))")
            }
            summary = try TrainingRun(config: c, runDirectory: dir, quiet: quiet, resume: resumed?.snapshot,
                                      resumeTensors: resumed?.tensors, checkpointSink: sink, stopOnSignal: true, task: task, rewardSource: rewards)
                .run(communicator: comm)
            if comm.isRoot {
                if summary.completed {
                    let normalized = NormalizedValue.text(summary.finalNormalizedValue, random: summary.randomValue,
                                                          oracle: summary.oracleValue)
                    print(String(format: "result: value %.4f (random ESR %.4f, oracle %.4f)  normalized %@  recall %.3f  steps %d  %.1fs (start-up %.1fs)  fingerprint %@",
                                 summary.finalValue, summary.randomValue, summary.oracleValue, normalized,
                                 summary.recall, summary.steps, summary.wallSeconds, summary.startupSeconds, String(summary.paramFingerprint.prefix(16))))
                }
                print("run directory: \(dir)")
            }
        } catch {
            if comm.size > 1 { comm.abort(message: "\(error)", code: 1) }
            FileHandle.standardError.write(Data("capg: error: \(error)\n".utf8))
            throw ExitCode(1)
        }
        if !summary.completed {
            if comm.isRoot {
                let local = StopSignal.received.map { " (\(StopSignal.name($0)) received by rank 0)" } ?? ""
                StopMarker.write(runDirectory: dir, code: Self.stoppedExitCode,
                                 reason: "stopped after step \(summary.steps)\(local); checkpoint in \(ckptDir)")
                FileHandle.standardError.write(Data("capg: stop requested\(local): stopped after step \(summary.steps) with a checkpoint in \(ckptDir); exit \(Self.stoppedExitCode), resume with --resume auto\n".utf8))
            }
            comm.barrier()
            (comm as? MPICommunicator)?.finalize()
            throw ExitCode(Self.stoppedExitCode)
        }
        (comm as? MPICommunicator)?.finalize()
    }
}
