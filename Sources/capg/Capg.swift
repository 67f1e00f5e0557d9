import ArgumentParser
import Foundation

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
                      VarianceCommand.self, DiagnoseCommand.self, InclusionCommand.self, CheckpointCommand.self,
                      AllreduceBenchCommand.self, BenchCommand.self])

    /// ArgumentParser's `help` subcommand prints the root help and exits 0 for a topic that
    /// is no command (`capg help NOSUCH`); a typo must fail. Checked before parsing.
    static func main() {
        let args = Array(CommandLine.arguments.dropFirst())
        if args.first == "help", args.count > 1, let unknown = HelpTopic.unknown(Array(args.dropFirst()), root: Self.self) {
            FileHandle.standardError.write(Data("capg: help: no command '\(unknown)'; commands: \(HelpTopic.names(of: Self.self).joined(separator: ", "))\n".utf8))
            Foundation.exit(64)
        }
        Self.main(nil)
    }
}
