import ArgumentParser

@main
struct Capg: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capg",
        abstract: "Train an early-stage ranker with credit-assigned policy gradient (CA-PG), V-PG or the top-K correction.",
        discussion: """
        Exit codes: 0 success, 1 runtime error (message on stderr; for `checkpoint verify`: \
        invalid checkpoint), 64 usage error, 75 (`train`) stopped by SIGTERM/SIGUSR1 after \
        writing a checkpoint: requeue and resume with --resume auto.
        """,
        subcommands: [TrainCommand.self, EvalCommand.self, RetrieveCommand.self, ExportCommand.self,
                      VarianceCommand.self, InclusionCommand.self, CheckpointCommand.self,
                      AllreduceBenchCommand.self, BenchCommand.self])
}
