import ArgumentParser
import CAPGServe
import Foundation

/// `capg retrieve CKPT [data flags] --k K --out FILE.jsonl`.
struct RetrieveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "retrieve",
        abstract: "The ESR's serving job: the top-K items by ESR score of every query, one JSON line per query.",
        discussion: """
        Each line: {"query": id, "items": [...], "scores": [...]} in descending score \
        (deterministic: no sampling noise; ties go to the lower index); LETOR lines add \
        "qid" (the file's query id), and items are document positions within the query in \
        file order. Synthetic queries are the held-out evaluation contexts with ids \
        --queries N (0..<N) or --query-range A..<B; --with-context adds each context vector \
        "context" (to recompute scores elsewhere). LETOR: every query of --test.
        """)

    @Argument(help: "Checkpoint file, `latest` pointer or checkpoint directory.")
    var checkpoint: String
    @OptionGroup var data: ServingDataOptions
    @Option(help: "Items per query K.")
    var k: Int
    @Option(help: "Output file (JSON lines).")
    var out: String
    @Option(help: "Synthetic/OBD: the first N evaluation queries (default: the checkpoint's eval_queries).")
    var queries: Int?
    @Option(name: .customLong("query-range"), help: ArgumentHelp("Synthetic/OBD: query ids A..<B.", valueName: "A..<B"))
    var queryRange: String?
    @Flag(name: .customLong("with-context"), help: "Synthetic: add each query's context vector to its line.")
    var withContext = false

    func validate() throws {
        if k < 1 { throw ValidationError("--k must be ≥ 1 (got \(k))") }
        if queries != nil && queryRange != nil { throw ValidationError("give --queries or --query-range, not both") }
        if let queries, queries < 1 { throw ValidationError("--queries must be ≥ 1 (got \(queries))") }
        if let queryRange, QuerySelection.parseRange(queryRange) == nil {
            throw ValidationError("--query-range must be A..<B with 0 ≤ A < B (got '\(queryRange)')")
        }
    }

    func run() throws {
        do {
            let model = try ServingModel(checkpoint: checkpoint)
            let task = try TaskLoader.serving(model: model, letorFile: data.testFile, obdDir: data.obdDir)
            let ids = try QuerySelection.ids(task: task, config: model.config, count: queries,
                                             range: queryRange.flatMap(QuerySelection.parseRange))
            let written = try RetrievalOutput.write(task: task, model: model, ids: ids, k: k, includeContext: withContext, to: out)
            print("retrieved top-\(k) of \(written) queries with \(model.path) (step \(model.step)) into \(out)")
        } catch {
            FileHandle.standardError.write(Data("capg: retrieve: \(error)\n".utf8))
            throw ExitCode(1)
        }
    }
}
