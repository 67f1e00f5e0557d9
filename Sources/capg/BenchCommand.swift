import ArgumentParser
import CAPGCore
import CAPGTrain
import Foundation

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Time the training step per estimator: queries/s, phase breakdown, peak RSS, machine ceilings.",
        discussion: """
        Runs the real trainer (Trainer.trainStep) on the reference configuration (items \
        100000, dim 64, k 100, batch 256; change them with the options) for each variant \
        (vpg, capg-threshold, capg-independent, topk): --warmup untimed steps, then --steps \
        timed ones (median, min, max of the per-step wall time, max over ranks). Then the \
        same steps re-enacted phase by phase (scoring GEMMs, Float→Double conversion where an \
        estimator still needs it: 0 for vpg and capg-threshold, which read the Float row, \
        sampling, estimator, backward GEMMs, allreduce, optimizer), peak RSS against the \
        analytic footprint, and the machine's ceilings measured in the same process \
        (sgemm GFLOP/s on the step's shapes, Philox words/s, exp/log per second, and the \
        threshold solve's split and decay passes per item) with the ceiling step time they \
        imply (for capg-threshold, which needs those two passes on every item, including \
        them; the ratio against the shared ceiling is printed beside it). Then one more line: the paper's small setting (items \
        1000, dim 10, context-dim 10, k 10, batch 128, capg-threshold, 100 timed steps) \
        and its ceiling by the same model, which at N = 1000 is almost all Philox, exp and \
        the threshold passes \
        (--no-paper skips it). Works under mpirun -np P (B must be divisible by P); \
        rank 0 prints. Build with -c release; the machine may be shared, so repeat runs.
        """)

    @Option(help: "Items N.") var items = 100_000
    @Option(help: "Embedding dimension d.") var dim = 64
    @Option(name: .customLong("context-dim"), help: "Context dimension dx.") var contextDim = 16
    @Option(help: "Candidate-set size K.") var k = 100
    @Option(name: .customLong("batch-size"), help: "Global batch B.") var batchSize = 256
    @Option(help: "Rollouts per context M.") var samples = 1
    @Option(help: "Timed steps per variant.") var steps = 5
    @Option(help: "Untimed warm-up steps per variant.") var warmup = 1
    @Option(help: "Comma-separated variants: vpg, capg-threshold, capg-independent, topk, distill.")
    var variants = StepBenchmark().variants.map(\.name).joined(separator: ",")
    @Option(name: .customLong("blas-threads"), help: "Threads per rank for the GEMMs and the per-query loop (default: $OPENBLAS_NUM_THREADS if set, else cores / ranks on the node).")
    var blasThreads: Int?
    @Flag(name: .customLong("no-phases"), help: "Skip the per-phase breakdown.") var noPhases = false
    @Flag(name: .customLong("no-ceilings"), help: "Skip the machine ceilings.") var noCeilings = false
    @Flag(name: .customLong("no-paper"), help: "Skip the paper-setting line (N=1000, d=10, dx=10, K=10, B=128).")
    var noPaper = false
    @Flag(help: "Print one JSON object instead of tables.") var json = false

    func validate() throws {
        if items < 2 || dim < 1 || contextDim < 1 || k < 1 || k > items || batchSize < 1 || samples < 1 {
            throw ValidationError("need items ≥ 2, 1 ≤ k ≤ items, and dim, context-dim, batch-size, samples ≥ 1")
        }
        if steps < 1 || warmup < 0 { throw ValidationError("--steps must be ≥ 1 and --warmup ≥ 0") }
        do { try Launch.validateBLASThreads(blasThreads) } catch { throw ValidationError("\(error)") }
        for v in parsedVariants where StepBenchmark.Variant.named(v) == nil {
            throw ValidationError("unknown variant '\(v)'; valid: \(StepBenchmark.Variant.all.map(\.name).joined(separator: ", "))")
        }
    }

    var parsedVariants: [String] { variants.split(separator: ",").map { String($0) } }

    func run() throws {
        let comm = Launch.communicator()
        let threads = Launch.configureBLASThreads(requested: blasThreads)
        var bench = StepBenchmark()
        bench.items = items; bench.dim = dim; bench.contextDim = contextDim; bench.k = k
        bench.batchSize = batchSize; bench.samples = samples; bench.steps = steps; bench.warmup = warmup
        bench.variants = parsedVariants.compactMap(StepBenchmark.Variant.named)
        bench.measurePhases = !noPhases; bench.measureCeilings = !noCeilings
        let report: StepBenchmark.Report
        var paper: StepBenchmark.Report? = nil
        do {
            if batchSize % comm.size != 0 {
                throw ValidationError("--batch-size \(batchSize) must be divisible by the \(comm.size) ranks")
            }
            report = try bench.run(communicator: comm)
            if !noPaper && Self.paper.batchSize % comm.size == 0 { paper = try Self.paper.run(communicator: comm) }
        } catch {
            if let mpi = comm as? MPICommunicator, comm.size > 1 {
                mpi.abort(message: "capg bench: rank \(comm.rank): \(error)", code: 1)
            }
            throw error
        }
        if comm.isRoot {
            if json {
                print(try jsonText(report, bench: bench, threads: threads, paper: paper))
            } else {
                printTables(report, bench: bench, threads: threads)
                if let p = paper?.results.first {
                    print("")
                    print(String(format: "paper setting (N=1000 d=10 dx=10 K=10 B=128, capg-threshold): %.3f ms/step median "
                                 + "(min %.3f, max %.3f), %.0f queries/s", 1e3 * p.medianSeconds,
                                 1e3 * (p.stepSeconds.min() ?? .nan), 1e3 * (p.stepSeconds.max() ?? .nan),
                                 p.queriesPerSecond(batchSize: Self.paper.batchSize)))
                    if let c = paper?.ceilings {
                        // The same ceiling model as the reference step's, on the paper's shapes:
                        // at N = 1000 it is almost all Philox, exp and the threshold passes (B·N =
                        // 128 000 of each).
                        let own = c.stepSeconds(for: p.variant)
                        print(String(format: "  its ceiling = GEMMs %.3f + B/P·N·(2 words + 1 exp) %.3f + threshold passes %.3f "
                                     + "+ optimizer %.3f = %.3f ms; step / ceiling = %.2f (without the threshold passes %.2f)",
                                     1e3 * c.gemmSeconds, 1e3 * (c.stepSeconds - c.gemmSeconds - c.optimizerSeconds),
                                     1e3 * c.thresholdSeconds, 1e3 * c.optimizerSeconds, 1e3 * own,
                                     p.medianSeconds / own, p.medianSeconds / c.stepSeconds))
                    }
                }
            }
        }
        (comm as? MPICommunicator)?.finalize()
    }

    func printTables(_ r: StepBenchmark.Report, bench: StepBenchmark, threads: Int) {
        print("capg bench: N=\(items) d=\(dim) dx=\(contextDim) K=\(k) B=\(batchSize) M=\(samples), ranks=\(r.ranks), "
              + "BLAS threads/rank=\(threads), \(steps) timed steps (+\(warmup) warm-up)")
        print("")
        print(leftAligned("variant", 18), rightAligned("ms/step med", 12), rightAligned("min", 9), rightAligned("max", 9),
              rightAligned("queries/s", 11), rightAligned("reward", 8))
        for v in r.results {
            print(leftAligned(v.variant.name, 18), String(format: "%12.1f %9.1f %9.1f %11.1f %8.4f",
                  1e3 * v.medianSeconds, 1e3 * (v.stepSeconds.min() ?? .nan), 1e3 * (v.stepSeconds.max() ?? .nan),
                  v.queriesPerSecond(batchSize: batchSize), v.meanReward))
        }
        if r.results.contains(where: { $0.phases != nil }) {
            print("")
            print("phase breakdown, ms per step (median over steps of the max over ranks):")
            print(leftAligned("variant", 18), StepBenchmark.Phases.names.map { rightAligned($0, 10) }.joined(separator: " "),
                  rightAligned("sum", 9))
            for v in r.results {
                guard let p = v.phases else { continue }
                print(leftAligned(v.variant.name, 18), p.values.map { String(format: "%10.1f", 1e3 * $0) }.joined(separator: " "),
                      String(format: "%9.1f", 1e3 * p.total))
            }
        }
        print("")
        let mb = { (b: Int) in String(format: "%.1f MB", Double(b) / 1e6) }
        let m = r.memory
        print("memory (rank 0): peak RSS \(mb(m.peakRSSBytes)) after the end-to-end runs; analytic \(mb(m.analyticBytes)) "
              + "+ process baseline \(mb(m.baselineRSSBytes)) = \(mb(m.analyticBytes + m.baselineRSSBytes)); "
              + String(format: "ratio %.2f", Double(m.peakRSSBytes) / Double(max(1, m.analyticBytes + m.baselineRSSBytes))))
        for (name, bytes) in m.analytic { print("  ", leftAligned(name, 38), rightAligned(mb(bytes), 12)) }
        if let c = r.ceilings {
            print("")
            print("machine ceilings (rank 0, same process):")
            print(String(format: "  sgemm GFLOP/s: forward %.1f, backward dE %.1f, backward dU %.1f (GEMMs %.1f ms/step)",
                         c.forwardGFLOPS, c.backwardEGFLOPS, c.backwardUGFLOPS, 1e3 * c.gemmSeconds))
            let philoxBatch = PhiloxBatch.usesAVX2 ? "batched AVX2 SoA" : "batched generic SIMD"
            print(String(format: "  Philox words/s: scalar stream %.3g, ", c.philoxScalarWordsPerSecond)
                  + philoxBatch + String(format: " %.3g", c.philoxBatchWordsPerSecond))
            print(String(format: "  exp/s: glibc %.3g, VectorExp %.3g; glibc log/s %.3g", c.libmExpPerSecond, c.vectorExpPerSecond, c.libmLogPerSecond))
            print(String(format: "  optimizer pass %.1f ms", 1e3 * c.optimizerSeconds))
            print(String(format: "  threshold passes (CA-PG threshold only), items/s: split + moments %.3g, decay into the row %.3g",
                         c.thresholdSplitItemsPerSecond, c.thresholdDecayItemsPerSecond))
            print(String(format: "  ceiling step = GEMMs + B/P·N·(2 words + 1 exp) / %d thread(s) + optimizer = %.1f ms",
                         c.threads, 1e3 * c.stepSeconds))
            print(String(format: "  ceiling step, capg-threshold = that + B/P·N·(split + decay) / %d thread(s) = %.1f ms",
                         c.threads, 1e3 * (c.stepSeconds + c.thresholdSeconds)))
            for v in r.results {
                let own = c.stepSeconds(for: v.variant)
                var line = String(format: "step / ceiling = %.2f", v.medianSeconds / own)
                if own != c.stepSeconds { line += String(format: "  (against the shared ceiling %.2f)", v.medianSeconds / c.stepSeconds) }
                print(leftAligned("  " + v.variant.name, 20), line)
            }
        }
    }

    /// The paper's small setting (issue 16 item 2): per-query fixed costs dominate there.
    static var paper: StepBenchmark {
        var b = StepBenchmark()
        b.items = 1000; b.dim = 10; b.contextDim = 10; b.k = 10; b.batchSize = 128
        b.steps = 100; b.warmup = 5; b.measurePhases = false; b.measureCeilings = true
        b.variants = [StepBenchmark.Variant.named("capg-threshold")!]
        return b
    }

    func jsonText(_ r: StepBenchmark.Report, bench: StepBenchmark, threads: Int, paper: StepBenchmark.Report?) throws -> String {
        var obj: [String: Any] = [
            "items": items, "dim": dim, "context_dim": contextDim, "k": k, "batch_size": batchSize, "samples": samples,
            "ranks": r.ranks, "blas_threads": threads, "steps": steps, "warmup": warmup,
            "peak_rss_bytes": r.memory.peakRSSBytes, "baseline_rss_bytes": r.memory.baselineRSSBytes,
            "analytic_bytes": r.memory.analyticBytes,
        ]
        obj["variants"] = r.results.map { v -> [String: Any] in
            var o: [String: Any] = ["name": v.variant.name, "step_seconds": v.stepSeconds, "median_seconds": v.medianSeconds,
                                    "queries_per_second": v.queriesPerSecond(batchSize: batchSize), "mean_reward": v.meanReward]
            if let p = v.phases {
                o["phases"] = Dictionary(uniqueKeysWithValues: zip(StepBenchmark.Phases.names, p.values))
            }
            if let c = r.ceilings { o["ceiling_seconds"] = c.stepSeconds(for: v.variant) }
            return o
        }
        if let c = r.ceilings {
            obj["ceilings"] = ["sgemm_forward_gflops": c.forwardGFLOPS, "sgemm_backward_e_gflops": c.backwardEGFLOPS,
                               "sgemm_backward_u_gflops": c.backwardUGFLOPS, "gemm_seconds": c.gemmSeconds,
                               "philox_scalar_words_per_s": c.philoxScalarWordsPerSecond,
                               "philox_batch_words_per_s": c.philoxBatchWordsPerSecond,
                               "glibc_exp_per_s": c.libmExpPerSecond, "vector_exp_per_s": c.vectorExpPerSecond,
                               "glibc_log_per_s": c.libmLogPerSecond, "optimizer_seconds": c.optimizerSeconds,
                               "ceiling_threads": c.threads, "ceiling_step_seconds": c.stepSeconds,
                               "threshold_split_items_per_s": c.thresholdSplitItemsPerSecond,
                               "threshold_decay_items_per_s": c.thresholdDecayItemsPerSecond,
                               "threshold_seconds": c.thresholdSeconds]
        }
        if let p = paper?.results.first {
            var o: [String: Any] = ["items": 1000, "dim": 10, "context_dim": 10, "k": 10, "batch_size": 128,
                                    "variant": p.variant.name, "step_seconds": p.stepSeconds, "median_seconds": p.medianSeconds]
            if let c = paper?.ceilings {
                o["ceiling_step_seconds"] = c.stepSeconds
                o["ceiling_seconds"] = c.stepSeconds(for: p.variant)
            }
            obj["paper"] = o
        }
        let data = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }
}
