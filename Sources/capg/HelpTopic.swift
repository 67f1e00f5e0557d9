import ArgumentParser

/// Resolving `capg help A B …` against the command tree.
enum HelpTopic {
    /// The command names directly under `command`.
    static func names(of command: ParsableCommand.Type) -> [String] {
        command.configuration.subcommands.map(name)
    }

    static func name(_ c: ParsableCommand.Type) -> String {
        c.configuration.commandName ?? c._commandName
    }

    /// The first word of `path` that names no subcommand (nil when the whole path resolves).
    static func unknown(_ path: [String], root: ParsableCommand.Type) -> String? {
        var node = root
        for word in path where !word.hasPrefix("-") {
            guard let next = node.configuration.subcommands.first(where: { name($0) == word }) else { return word }
            node = next
        }
        return nil
    }
}
