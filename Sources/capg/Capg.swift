import ArgumentParser

@main
struct Capg: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capg",
        abstract: "Train an early-stage ranker with credit-assigned policy gradient (CA-PG), V-PG or the top-K correction.",
        discussion: """
        Exit codes: 0 success, 1 runtime error (message on stderr), 64 usage error.
        """,
        subcommands: [TrainCommand.self, VarianceCommand.self, InclusionCommand.self])
}
