import ArgumentParser
import CAPGCore
import CAPGTrain
import Foundation

struct VarianceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "variance",
        abstract: "Gradient variance, bias (cosine to a reference) and SNR of each estimator at fixed parameters, per K.",
        discussion: """
        variance_scores = tr Cov[ĝ] w.r.t. the N scores; variance_params = tr Cov w.r.t. the \
        two-tower parameters; cosine_to_reference = cos(mean estimate, reference), the reference \
        being the exact gradient (tiny N) or a high-sample leave-one-out V-PG (unbiased); \
        snr = ‖mean‖/√tr Cov for one draw. Averaged over --contexts evaluation contexts.
        """)

    @OptionGroup var env: EnvironmentOptions

    @Option(name: .customLong("k"), help: "Comma-separated candidate-set sizes.")
    var ks: String = "10,50,200"
    @Option(help: "Comma-separated estimators from vpg,capg,topk,distill.")
    var estimators: String = "vpg,capg,topk"
    @Option(help: "Independent draws M per context.")
    var samples: Int = 200
    @Option(help: "Number of contexts to average over.")
    var contexts: Int = 8
    @Option(name: .customLong("reference-samples"), help: "Rollouts of the leave-one-out V-PG reference per context.")
    var referenceSamples: Int = 20000
    @Flag(help: "Print a JSON array instead of a table.")
    var json = false

    func run() throws {
        var c = TrainingConfig()
        let kList: [Int]
        let estList: [EstimatorKind]
        do {
            try env.resolve(into: &c)
            kList = try ks.split(separator: ",").map {
                guard let v = Int($0.trimmingCharacters(in: .whitespaces)), v >= 1 else { throw ValidationError("--k: '\($0)' is not a positive integer") }
                return v
            }
            estList = try estimators.split(separator: ",").map {
                guard let v = EstimatorKind(rawValue: $0.trimmingCharacters(in: .whitespaces)) else {
                    throw ValidationError("--estimators: '\($0)' is not one of vpg, capg, topk, distill")
                }
                return v
            }
            guard samples >= 2 else { throw ValidationError("--samples must be ≥ 2 to estimate a variance") }
            guard c.lsrMode == .fixed else {
                throw ValidationError("capg variance measures the ESR's gradient under the fixed LSR; --lsr-mode applies to capg train")
            }
            guard contexts >= 1 else { throw ValidationError("--contexts must be ≥ 1") }
            guard referenceSamples >= 2 else { throw ValidationError("--reference-samples must be ≥ 2") }
            if let maxK = kList.max() { c.k = min(maxK, c.items) }
            try c.validate()
        } catch let e as ConfigError {
            throw ValidationError(e.description)
        }
        let exp = VarianceExperiment(config: c, ks: kList, estimators: estList, draws: samples,
                                     contexts: contexts, referenceDraws: referenceSamples)
        let rows = try exp.run(progress: json ? nil : { line in
            FileHandle.standardError.write(Data((line + "\n").utf8))
        })
        if json {
            let data = try JSONSerialization.data(withJSONObject: rows.map(\.json), options: [.prettyPrinted, .sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(leftAligned("est", 6), leftAligned("inclusion", 12), rightAligned("k", 6), rightAligned("var_scores", 16),
                  rightAligned("var_params", 16), rightAligned("cosine", 10), rightAligned("snr", 10))
            for r in rows {
                print(leftAligned(r.estimator.rawValue, 6), leftAligned(r.inclusion?.rawValue ?? "-", 12),
                      String(format: "%6d %16.6g %16.6g %10.4f %10.4f", r.k, r.varianceScores, r.varianceParams,
                             r.cosineToReference, r.snr))
            }
        }
    }
}
