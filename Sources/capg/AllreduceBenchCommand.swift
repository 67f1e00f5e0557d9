import ArgumentParser
import CAPGTrain
import Foundation

struct AllreduceBenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "allreduce-bench",
        abstract: "Time the trainer's allreduce across message sizes and fit T(m) = α + β·m.",
        discussion: "Run under mpirun -np P. Prints a table (or --json) of bytes and median seconds, and the fit.")

    @Option(help: "Repetitions per size (median reported).")
    var repetitions = 20
    @Option(name: .customLong("max-bytes"), help: "Largest message in bytes.")
    var maxBytes = 64 << 20
    @Flag(help: "Print JSON: {ranks, alpha, beta, samples:[{bytes, seconds}]}.")
    var json = false

    func validate() throws {
        if repetitions < 1 { throw ValidationError("--repetitions must be ≥ 1") }
        if maxBytes < 4 { throw ValidationError("--max-bytes must be ≥ 4") }
    }

    func run() throws {
        let comm = Launch.communicator()
        let sizes = AllreduceBenchmark.defaultSizes.filter { $0 <= maxBytes }
        let samples = AllreduceBenchmark(sizes: sizes, repetitions: repetitions).run(communicator: comm)
        let model = AlphaBetaModel.fit(samples)
        if comm.isRoot {
            if json {
                let obj: [String: Any] = ["ranks": comm.size, "alpha": model.alpha, "beta": model.beta,
                                          "samples": samples.map { ["bytes": $0.bytes, "seconds": $0.seconds] }]
                let data = try JSONSerialization.data(withJSONObject: obj, options: [.sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            } else {
                print(rightAligned("bytes", 12), rightAligned("seconds", 14), rightAligned("GB/s", 12))
                for s in samples {
                    print(String(format: "%12d %14.3e %12.3f", s.bytes, s.seconds, Double(s.bytes) / s.seconds / 1e9))
                }
                print(String(format: "fit on %d rank(s): alpha = %.3e s, beta = %.3e s/B (%.2f GB/s)",
                             comm.size, model.alpha, model.beta, model.beta > 0 ? 1e-9 / model.beta : .infinity))
            }
        }
        (comm as? MPICommunicator)?.finalize()
    }
}
