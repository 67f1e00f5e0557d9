import CAPGCore
import CVectorMath
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// End-to-end and per-phase timing of the training step (issue 7), with the machine's own
/// ceilings measured in the same process.
///
/// - **End to end**: a real `Trainer` (`Trainer(config:communicator:)`, `trainStep()`),
///   so the figure is what `capg train` runs. Per step the wall time is max-reduced over
///   ranks (a step is as slow as its slowest rank); queries/s = B / median step time.
/// - **Phases**: the same step re-enacted from the same public pieces with a timer per
///   phase, through the entry points the step's query loop calls (on one thread): scoring
///   (forward GEMMs, bias in the GEMM), convert (`EstimatorWorkspace.widen`: the Float
///   score row to Double, with its max and min, for the estimators that still need it; 0
///   for V-PG and threshold CA-PG, which read the Float row in place: their sampler pays
///   the first read of the row, and threshold CA-PG's Float range pass runs inside the
///   estimate, as in the step), sampling (Gumbel-top-K + LSR + reward:
///   `PolicyGradientEstimator.rollouts`), estimator (`accumulate(rollouts:…workspace:)`,
///   including the Double row added into the Float gradient row), backward (the GEMMs of `TwoTowerESR.backward`),
///   allreduce (gradient + metric sums) and optimizer (one `ascend`). Each phase is the
///   median over steps of the max over ranks.
/// - **Ceilings**: OpenBLAS sgemm GFLOP/s on the step's own GEMM shapes, Philox words/s
///   (scalar `RandomStream` and the batched `PhiloxBatch`: the C kernel, AVX2 when the CPU has it), exp/s (glibc and `VectorExp`)
///   and log/s of tight loops (one thread). The ceiling step time is the GEMMs at their
///   measured rate plus one uniform (two words) and one exp per score (B/P · N of each),
///   divided over the trainer's worker threads (= BLAS threads per rank), plus one
///   streaming optimizer pass (measured). The threshold CA-PG step's ceiling adds the two
///   per-item passes its solve makes on top of the exp (the hot/cold split with its moments,
///   and the decay written into the gradient row), at their in-L1 rates.
/// - **Memory**: peak RSS (`getrusage` `ru_maxrss`) after the end-to-end runs against the
///   analytic footprint: parameters, Adam state, the gradient buffer, the batch buffers
///   (scores and their gradient, B/P·N floats each), one worker's estimator rows (its
///   N-double gradient row, the threshold solve's N weights and N hot indices, and the
///   widened N-double score row when a timed variant still widens) and the synthetic
///   environment (N·(dx+1) floats), plus the
///   RSS the process had before the first trainer (runtime, BLAS buffers).
public struct StepBenchmark: Sendable {
    /// One estimator configuration to time.
    public struct Variant: Sendable, Hashable {
        public var name: String
        public var estimator: EstimatorKind
        public var inclusion: InclusionModelKind

        public init(name: String, estimator: EstimatorKind, inclusion: InclusionModelKind) {
            self.name = name; self.estimator = estimator; self.inclusion = inclusion
        }

        /// vpg, capg-threshold, capg-independent, topk, distill.
        public static let all: [Variant] = [
            Variant(name: "vpg", estimator: .vpg, inclusion: .threshold),
            Variant(name: "capg-threshold", estimator: .capg, inclusion: .threshold),
            Variant(name: "capg-independent", estimator: .capg, inclusion: .independent),
            Variant(name: "topk", estimator: .topk, inclusion: .threshold),
            Variant(name: "distill", estimator: .distill, inclusion: .threshold),
        ]

        public static func named(_ name: String) -> Variant? { all.first { $0.name == name } }
    }

    public var items = 100_000
    public var dim = 64
    public var contextDim = 16
    public var k = 100
    public var batchSize = 256
    public var samples = 1
    /// Timed steps per variant (after `warmup` untimed ones).
    public var steps = 5
    public var warmup = 1
    /// Default: the four policy-gradient variants of issue 7 (`distill` on request).
    public var variants = Array(Variant.all.prefix(4))
    public var measureCeilings = true
    public var measurePhases = true
    public var seed: UInt64 = 0

    public init() {}

    /// Per-phase seconds of one step (max over ranks).
    public struct Phases: Sendable {
        public var scoring = 0.0, convert = 0.0, sampling = 0.0, estimator = 0.0
        public var backward = 0.0, allreduce = 0.0, optimizer = 0.0
        public var total: Double { scoring + convert + sampling + estimator + backward + allreduce + optimizer }
        public static let names = ["scoring", "convert", "sampling", "estimator", "backward", "allreduce", "optimizer"]
        public var values: [Double] { [scoring, convert, sampling, estimator, backward, allreduce, optimizer] }
        init(_ v: [Double]) {
            scoring = v[0]; convert = v[1]; sampling = v[2]; estimator = v[3]
            backward = v[4]; allreduce = v[5]; optimizer = v[6]
        }
        public init() {}
    }

    public struct VariantResult: Sendable {
        public var variant: Variant
        /// End-to-end seconds of each timed `trainStep` (max over ranks).
        public var stepSeconds: [Double]
        public var phases: Phases?
        /// Mean reward of the timed steps (how many CA-PG / top-K gradients were nonzero).
        public var meanReward: Double

        public var medianSeconds: Double { StepBenchmark.median(stepSeconds) }
    }

    public struct Ceilings: Sendable {
        /// GFLOP/s of sgemm on the forward `(B/P×d)·(d×N)`, backward `∂E = Gᵀ U` and `∂U = G E`.
        public var forwardGFLOPS = 0.0, backwardEGFLOPS = 0.0, backwardUGFLOPS = 0.0
        /// Seconds of the three GEMMs at those rates (plus the two tiny ones, ignored).
        public var gemmSeconds = 0.0
        public var philoxScalarWordsPerSecond = 0.0, philoxBatchWordsPerSecond = 0.0
        public var libmExpPerSecond = 0.0, vectorExpPerSecond = 0.0, libmLogPerSecond = 0.0
        /// One streaming Adam pass over the parameters (measured).
        public var optimizerSeconds = 0.0
        /// Worker threads of the trainer's per-query loop (the elementwise work is divided over them).
        public var threads = 1
        /// GEMMs + B/P·N·(2 Philox words + 1 exp)/threads at the best measured rates + optimizer.
        public var stepSeconds = 0.0
        /// Items/s of the two per-item passes only the threshold CA-PG solve makes, on an
        /// L1-resident row: the hot/cold split with its eight moments (`capg_threshold_split`,
        /// the part of the fused exp + split pass after the exp) and the decay written into
        /// the Float gradient row (`capg_threshold_cold_decay_narrow_set`).
        public var thresholdSplitItemsPerSecond = 0.0, thresholdDecayItemsPerSecond = 0.0
        /// B/P·N·(1/split + 1/decay)/threads: what those passes add to the ceiling of the
        /// threshold CA-PG step.
        public var thresholdSeconds = 0.0

        /// The ceiling of variant `v`'s step: `stepSeconds`, plus `thresholdSeconds` for the
        /// threshold CA-PG estimator, whose solve needs the two passes on every item (the
        /// issue's own lower bound counted its "vectorized moments" the same way).
        public func stepSeconds(for v: Variant) -> Double {
            v.estimator == .capg && v.inclusion == .threshold ? stepSeconds + thresholdSeconds : stepSeconds
        }
    }

    public struct Memory: Sendable {
        public var peakRSSBytes = 0
        public var baselineRSSBytes = 0
        public var analytic: [(name: String, bytes: Int)] = []
        public var analyticBytes: Int { analytic.reduce(0) { $0 + $1.bytes } }
    }

    public struct Report: Sendable {
        public var ranks = 1
        public var blasThreads = 1
        public var results: [VariantResult] = []
        public var ceilings: Ceilings?
        public var memory = Memory()
    }

    /// The trainer configuration of one variant (evaluation and replica checks pushed out
    /// of the timed steps; one evaluation query per rank, the minimum the trainer accepts).
    public func config(for v: Variant, ranks: Int) -> TrainingConfig {
        var c = TrainingConfig()
        c.items = items; c.dim = dim; c.contextDim = contextDim; c.k = k; c.batchSize = batchSize
        c.samples = samples; c.estimator = v.estimator; c.inclusion = v.inclusion
        c.steps = 1 << 30; c.evalEvery = 1 << 30; c.checkEvery = 0; c.evalQueries = ranks
        c.evalSamples = 1; c.seed = seed
        return c
    }

    /// Runs every variant on every rank (collective: all ranks must call it).
    public func run(communicator comm: any Communicator) throws -> Report {
        var report = Report()
        report.ranks = comm.size
        report.blasThreads = GEMM.threads
        report.memory.baselineRSSBytes = Self.peakRSS()
        var results: [VariantResult] = []
        for v in variants {
            let trainer = try Trainer(config: config(for: v, ranks: comm.size), communicator: comm)
            var times: [Double] = []
            var reward = 0.0
            for i in 0..<(warmup + steps) {
                comm.barrier()
                let t0 = Self.now()
                let m = try trainer.trainStep()
                var t = [Self.now() - t0]
                comm.allreduceMax(&t)
                if i >= warmup { times.append(t[0]); reward += m.meanReward / Double(steps) }
            }
            results.append(VariantResult(variant: v, stepSeconds: times, phases: nil, meanReward: reward))
        }
        report.memory.peakRSSBytes = Self.peakRSS()
        report.memory.analytic = analyticFootprint(ranks: comm.size)
        if measurePhases {
            for (i, v) in variants.enumerated() {
                let trainer = try Trainer(config: config(for: v, ranks: comm.size), communicator: comm)
                for _ in 0..<warmup { _ = try trainer.trainStep() }
                var perStep: [[Double]] = []
                for _ in 0..<max(1, steps) {
                    var ph = try phases(trainer: trainer, communicator: comm).values
                    comm.allreduceMax(&ph)
                    perStep.append(ph)
                    _ = try trainer.trainStep()
                }
                results[i].phases = Phases((0..<Phases.names.count).map { j in Self.median(perStep.map { $0[j] }) })
            }
        }
        report.results = results
        if measureCeilings { report.ceilings = ceilings(ranks: comm.size) }
        return report
    }

    /// Whether a timed variant widens its score rows into a Double copy (every estimator but
    /// V-PG and threshold CA-PG, which read the Float row in place; no variant here samples
    /// with replacement).
    var widensRows: Bool {
        variants.contains { !PolicyGradientEstimator.estimateReadsFloatRow(kind: $0.estimator, inclusion: $0.inclusion) }
    }

    /// The analytic per-rank footprint in bytes (see the type's documentation).
    public func analyticFootprint(ranks: Int) -> [(name: String, bytes: Int)] {
        let shape = TwoTowerShape(items: items, embeddingDim: dim, contextDim: contextDim)
        let p = shape.parameterCount, local = batchSize / max(1, ranks)
        return [("parameters", 4 * p), ("adam m, v", 8 * p), ("gradient", 4 * p),
                ("scores + score gradient (B/P·N)", 8 * local * items),
                widensRows ? ("rows + estimator work (3.5·N doubles)", 28 * items)
                           : ("estimator work (2.5·N doubles)", 20 * items),
                ("environment N·(dx+1)", 4 * items * (contextDim + 1))]
    }

    /// One step of `trainer`'s current state re-enacted with a timer per phase; changes
    /// nothing in the trainer (its optimizer update is applied to a fresh optimizer and a
    /// copy of the parameters).
    func phases(trainer: Trainer, communicator comm: any Communicator) throws -> Phases {
        var ph = Phases()
        let cfg = trainer.config
        let ids = trainer.localQueryIDs(step: trainer.step)
        let estimator = trainer.estimator
        var t = Self.now()
        func lap() -> Double { let u = Self.now(); defer { t = u }; return u - t }
        // The step writes its scores into the array it recycles from the previous step;
        // borrowed here for the same reason (a fresh B×N array costs its page faults).
        var recycled: [Float] = []
        swap(&recycled, &trainer.buffers.recycledScores)
        _ = lap()
        var batch = trainer.task.forward(parameters: trainer.parameters, ids: ids, evaluation: false, recycling: &recycled)
        ph.scoring += lap()
        defer { swap(&trainer.buffers.recycledScores, &batch.scores) }
        // The score gradient is recycled in the step, so its allocation and first touch are
        // not timed here either.
        var g = [Float](repeating: 0, count: batch.scores.count)
        var rewardSum = 0.0, sampleCount = 0.0
        let scale = 1 / Double(cfg.batchSize)
        let workspace = EstimatorWorkspace()
        _ = lap()
        // What the step's `rollouts(scores: UnsafeBufferPointer<Float>, …, workspace:)` and
        // `accumulate(rollouts:…, workspace:, rowWidened: true, overwrite: true)` do (one thread), with a
        // timer between converting, sampling and the estimate (which includes adding the
        // Double row into the Float gradient). Where the step reads the Float row in place
        // there is nothing to convert, and the estimate is told the workspace has not seen
        // the row (`rowWidened: false`), so threshold CA-PG measures its range there, as in
        // the step (only for a context with a rewarded rollout).
        let inPlace = estimator.readsFloatRowInPlace
        for (qi, q) in batch.queries.enumerated() {
            let range = batch.range(qi)
            let rollouts = batch.scores.withUnsafeBufferPointer { sb -> [Rollout] in
                let row = UnsafeBufferPointer(rebasing: sb[range])
                if !inPlace { workspace.widen(row) }
                ph.convert += lap()
                defer { ph.sampling += lap() }
                return inPlace
                    ? estimator.rollouts(scores: row, query: q, seed: cfg.seed, step: trainer.step, queryID: ids[qi])
                    : estimator.rollouts(scores: workspace.row, query: q, seed: cfg.seed, step: trainer.step,
                                         queryID: ids[qi])
            }
            rewardSum += rollouts.reduce(0) { $0 + $1.reward }; sampleCount += Double(rollouts.count)
            batch.scores.withUnsafeBufferPointer { sb in
                g.withUnsafeMutableBufferPointer { gb in
                    _ = estimator.accumulate(rollouts: rollouts, scores: UnsafeBufferPointer(rebasing: sb[range]), query: q,
                                             runningBaseline: trainer.runningBaseline, scale: scale,
                                             into: UnsafeMutableBufferPointer(rebasing: gb[range]), workspace: workspace,
                                             rowWidened: !inPlace, overwrite: true)
                }
            }
            ph.estimator += lap()
        }
        var gradient = [Float](repeating: 0, count: trainer.parameters.count)
        _ = lap()  // allocation is not a GEMM
        trainer.task.backward(parameters: trainer.parameters, batch: batch, scoreGradient: g, into: &gradient)
        ph.backward += lap()
        comm.allreduceSum(&gradient)
        var sums = [rewardSum, sampleCount, 0]
        comm.allreduceSum(&sums)
        ph.allreduce += lap()
        var params = trainer.parameters
        var opt = cfg.optimizer.make(parameterCount: params.count, learningRate: cfg.lr)
        opt.ascend(parameters: &params, gradient: gradient)  // first touch of the fresh state
        _ = lap()
        let norm2 = gradient.withUnsafeBufferPointer { StableMath.sumOfSquares($0) }
        opt.ascend(parameters: &params, gradient: gradient)
        ph.optimizer += lap()
        if !norm2.isFinite { throw TrainingError.nonFiniteParameters(step: trainer.step) }
        return ph
    }

    /// Machine ceilings on this rank's share of the step (see the type's documentation).
    public func ceilings(ranks: Int) -> Ceilings {
        var c = Ceilings()
        let b = max(1, batchSize / max(1, ranks)), n = items, d = dim
        let reps = 3
        var a = [Float](repeating: 0.01, count: b * d)
        var e = [Float](repeating: 0.02, count: n * d)
        var s = [Float](repeating: 0, count: b * n)
        let flops = 2.0 * Double(b) * Double(n) * Double(d)
        func best(_ body: () -> Void) -> Double {
            body()
            var m = Double.infinity
            for _ in 0..<reps { let t0 = Self.now(); body(); m = min(m, Self.now() - t0) }
            return m
        }
        let tf = a.withUnsafeBufferPointer { ab in e.withUnsafeBufferPointer { eb in s.withUnsafeMutableBufferPointer { sb in
            best { GEMM.sgemm(.none, .transpose, m: b, n: n, k: d, a: ab.baseAddress!, lda: d, b: eb.baseAddress!, ldb: d,
                              c: sb.baseAddress!, ldc: n) } } } }
        let te = s.withUnsafeBufferPointer { sb in a.withUnsafeBufferPointer { ab in e.withUnsafeMutableBufferPointer { eb in
            best { GEMM.sgemm(.transpose, .none, m: n, n: d, k: b, a: sb.baseAddress!, lda: n, b: ab.baseAddress!, ldb: d,
                              beta: 1, c: eb.baseAddress!, ldc: d) } } } }
        let tu = s.withUnsafeBufferPointer { sb in e.withUnsafeBufferPointer { eb in a.withUnsafeMutableBufferPointer { ab in
            best { GEMM.sgemm(.none, .none, m: b, n: d, k: n, a: sb.baseAddress!, lda: n, b: eb.baseAddress!, ldb: d,
                              c: ab.baseAddress!, ldc: d) } } } }
        c.forwardGFLOPS = flops / tf / 1e9; c.backwardEGFLOPS = flops / te / 1e9; c.backwardUGFLOPS = flops / tu / 1e9
        c.gemmSeconds = tf + te + tu
        s = []; e = []; a = []

        // Random numbers: 2^22 words through the scalar stream and the batched generator.
        let words = 1 << 22
        var sink: UInt32 = 0
        let tPS = best {
            var st = RandomStream(RandomKey(seed: 1, purpose: .variance))
            var acc: UInt32 = 0
            for _ in 0..<words { acc ^= st.nextWord() }
            sink ^= acc
        }
        var wbuf = [UInt32](repeating: 0, count: 4096)
        let tPB = best {
            let key = RandomKey(seed: 1, purpose: .variance)
            wbuf.withUnsafeMutableBufferPointer { wb in
                var blk: UInt32 = 0
                for _ in 0..<(words / wb.count) {
                    PhiloxBatch.fill(wb, key: key, firstBlock: blk)
                    blk &+= UInt32(wb.count / 4)
                    sink ^= wb[0]
                }
            }
        }
        c.philoxScalarWordsPerSecond = Double(words) / tPS
        c.philoxBatchWordsPerSecond = Double(words) / tPB

        // exp and log over 2^20 arguments in [−30, 0] (the range of shifted scores).
        let m = 1 << 20
        let xs = (0..<m).map { -30 * Double($0) / Double(m) }
        var out = [Double](repeating: 0, count: m)
        let tE = best { out.withUnsafeMutableBufferPointer { o in for i in 0..<m { o[i] = Foundation.exp(xs[i]) } } }
        let tV = best { _ = xs.withUnsafeBufferPointer { xb in out.withUnsafeMutableBufferPointer { o in VectorExp.exp(xb, into: o) } } }
        let ys = (0..<m).map { 1e-6 + Double($0) / Double(m) }
        let tL = best { out.withUnsafeMutableBufferPointer { o in for i in 0..<m { o[i] = Foundation.log(ys[i]) } } }
        c.libmExpPerSecond = Double(m) / tE; c.vectorExpPerSecond = Double(m) / tV; c.libmLogPerSecond = Double(m) / tL
        if sink == 0x1234_5678 && out[0] == 42 { print("") }  // keep the loops observable

        // One Adam pass over the parameters (streaming: 4 arrays).
        let shape = TwoTowerShape(items: n, embeddingDim: d, contextDim: contextDim)
        var params = [Float](repeating: 0, count: shape.parameterCount)
        let grad = [Float](repeating: 1e-3, count: shape.parameterCount)
        var opt = Adam(parameterCount: params.count, learningRate: 1e-3)
        c.optimizerSeconds = best { opt.ascend(parameters: &params, gradient: grad) }

        // The threshold solve's per-item passes on 2048 weights (16 KiB, in L1), all cold, as
        // at the start of training (a hot item costs the split a few scalar stores more).
        let chunk = 2048
        let weights = (0..<chunk).map { Foundation.exp(-20 * Double($0) / Double(chunk)) }
        var hot = [Int32](repeating: 0, count: chunk)
        var narrowed = [Float](repeating: 0, count: chunk)
        let chunkReps = 64
        let tSplit = best {
            weights.withUnsafeBufferPointer { wb in hot.withUnsafeMutableBufferPointer { hb in
                var r = capg_threshold_split_result()
                for _ in 0..<chunkReps { capg_threshold_split(wb.baseAddress, chunk, 2, hb.baseAddress, &r) }
                if r.sum == 42 { print("") }
            } }
        }
        let tDecay = best {
            weights.withUnsafeBufferPointer { wb in narrowed.withUnsafeMutableBufferPointer { yb in
                var flagged: Int32 = 0
                for _ in 0..<chunkReps { flagged |= capg_threshold_cold_decay_narrow_set(wb.baseAddress, chunk, 2, 1e-3, 0.5, yb.baseAddress) }
                if flagged == 42 { print("") }
            } }
        }
        c.thresholdSplitItemsPerSecond = Double(chunk * chunkReps) / tSplit
        c.thresholdDecayItemsPerSecond = Double(chunk * chunkReps) / tDecay

        let values = Double(b) * Double(n)
        let wordRate = max(c.philoxScalarWordsPerSecond, c.philoxBatchWordsPerSecond)
        let expRate = max(c.libmExpPerSecond, c.vectorExpPerSecond)
        // The trainer spreads the per-query work over its worker threads (the BLAS thread
        // count), so the elementwise ceiling is the single-thread rate times that many.
        c.threads = max(1, GEMM.threads)
        c.stepSeconds = c.gemmSeconds + values * (2 / wordRate + 1 / expRate) / Double(c.threads) + c.optimizerSeconds
        c.thresholdSeconds = values * (1 / c.thresholdSplitItemsPerSecond + 1 / c.thresholdDecayItemsPerSecond)
            / Double(c.threads)
        return c
    }

    /// Peak resident set size of this process in bytes.
    public static func peakRSS() -> Int { PeakMemory.residentBytes() }

    /// Monotonic seconds.
    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    static func median(_ v: [Double]) -> Double {
        if v.isEmpty { return .nan }
        let s = v.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : 0.5 * (s[s.count / 2 - 1] + s[s.count / 2])
    }
}

extension StepBenchmark.VariantResult {
    /// Global queries per second at the median step time.
    public func queriesPerSecond(batchSize: Int) -> Double { Double(batchSize) / medianSeconds }
}
