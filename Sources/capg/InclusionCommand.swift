import ArgumentParser
import CAPGCore
import Foundation

struct InclusionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inclusion",
        abstract: "Print P(a ∈ S) of every item for a PL top-K candidate set with the given scores.")

    // Unconditional: the value may start with '-' (negative scores, `--scores -1,2`).
    @Option(parsing: .unconditional, help: "Comma-separated scores s1,s2,... (negative values allowed: --scores -1,2).")
    var scores: String?
    @Option(name: .customLong("scores-file"), help: "File of scores, separated by commas, spaces or newlines.")
    var scoresFile: String?
    @Option(help: "Candidate-set size K.")
    var k: Int
    @Option(help: "Inclusion model: exact | threshold | independent.")
    var model: String = "exact"
    @Flag(help: "Print {\"model\":…, \"k\":…, \"p\":[…]}.")
    var json = false

    func validate() throws {
        if (scores == nil) == (scoresFile == nil) { throw ValidationError("give exactly one of --scores or --scores-file") }
        if k < 1 { throw ValidationError("--k must be ≥ 1 (got \(k))") }
        if InclusionModelKind(rawValue: model) == nil { throw ValidationError("--model must be exact, threshold or independent (got '\(model)')") }
    }

    func run() throws {
        let text: String
        let source: String
        if let scoresFile {
            guard let t = try? String(contentsOfFile: scoresFile, encoding: .utf8) else {
                throw ValidationError("cannot read --scores-file \(scoresFile)")
            }
            text = t; source = scoresFile
        } else { text = scores!; source = "--scores" }
        // Commas and semicolons separate values; so does white space (runs of it count
        // once). An empty field between two separators ("1,,3") is an error: dropping it
        // would silently renumber every item after it.
        var s = [Double]()
        for piece in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "," || $0 == ";" }) {
            let words = piece.split(whereSeparator: { $0.isWhitespace })
            if words.isEmpty {
                throw ValidationError("\(source): value \(s.count + 1) is empty (two separators in a row, or a leading/trailing comma)")
            }
            for tok in words {
                guard let v = Double(tok), v.isFinite else {
                    throw ValidationError("\(source): value \(s.count + 1) '\(tok)' is not a finite number")
                }
                s.append(v)
            }
        }
        guard s.count >= 1 else { throw ValidationError("\(source): no scores given") }
        let kind = InclusionModelKind(rawValue: model)!
        let p = kind.makeModel().probabilities(scores: s, k: k)
        if json {
            let data = try JSONSerialization.data(withJSONObject: ["model": model, "k": k, "p": p] as [String: Any], options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print("model \(model), K = \(k), N = \(s.count); sum of P = \(String(format: "%.12g", p.reduce(0, +)))")
            for (i, v) in p.enumerated() { print(String(format: "%6d  s=%-12.6g  P(a∈S)=%.12g", i, s[i], v)) }
        }
    }
}
