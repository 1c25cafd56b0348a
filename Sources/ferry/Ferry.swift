import ArgumentParser
import FerryCore
import FerryState
import Foundation

@main
struct Ferry: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ferry",
        abstract: "Distribute container images across a cluster, fetching each layer from upstream once.",
        version: FerryVersion.current,
        subcommands: [
            LeaderCommand.self, FollowerCommand.self, InstallCommand.self, StatusCommand.self, NodesCommand.self,
            FetchCommand.self, ImagesCommand.self, RolloutCommand.self, GCCommand.self, TokenCommand.self, DigestCommand.self, RoutesCommand.self, ProxyCommand.self,
        ]
    )

    /// Parses the command line with a daemon's `--config` file and `FERRY_*` variables applied.
    static func main() async {
        let arguments: [String]
        do {
            arguments = try DaemonConfiguration.expand(Array(CommandLine.arguments.dropFirst()), environment: ProcessInfo.processInfo.environment)
        } catch {
            printError(error.message)
            Self.exit(withError: ExitCode(1))
        }
        if let command = helpRequested(in: arguments) {
            // ArgumentParser answers `--help` on a subcommand whose parent has a required option
            // (`ferry leader backup --help`) with the parent's help; name the deepest command given.
            print(helpMessage(for: command))
            Foundation.exit(0)
        }
        do {
            var command = try parseAsRoot(arguments)
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            exitBriefly(withError: error)
        }
    }

    /// ArgumentParser's message on one line: a list of allowed values ("…one of the following:" then
    /// a "- value" line each) becomes "…: a, b, c".
    static func oneLine(_ message: String) -> String {
        let lines = message.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let items = lines.filter { $0.hasPrefix("- ") }.map { $0.dropFirst(2) }
        let text = lines.filter { !$0.hasPrefix("- ") }.joined(separator: " ")
        return items.isEmpty ? text : text + " " + items.joined(separator: ", ")
    }

    /// The command whose help `arguments` ask for (`--help` or `-h` before any `--`): the deepest
    /// subcommand named on the line, or nil when no help is asked for.
    static func helpRequested(in arguments: [String]) -> (any ParsableCommand.Type)? {
        let words = arguments.prefix { $0 != "--" }
        guard words.contains(where: { $0 == "--help" || $0 == "-h" }) else { return nil }
        var command: any ParsableCommand.Type = Ferry.self
        for word in words {
            if let subcommand = command.configuration.subcommands.first(where: { $0._commandName == word }) {
                command = subcommand
            }
        }
        return command
    }

    /// Ends the process for `error` as ArgumentParser does (help and version printed, exit codes
    /// kept), except that a command line it cannot parse is one `ferry: error:` line naming the
    /// help to read, not the usage dump, with status 64 (EX_USAGE).
    static func exitBriefly(withError error: any Error) -> Never {
        let code = exitCode(for: error)
        let brief = oneLine(message(for: error))
        guard code == .validationFailure, !brief.isEmpty else { exit(withError: error) }
        // ArgumentParser's last line, "See 'ferry leader --help' for more information.", names the help.
        let help = fullMessage(for: error).split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
            .last { $0.hasPrefix("See '") }
            .flatMap { $0.split(separator: "'").dropFirst().first }
        printError(brief + (help.map { " (see '\($0)')" } ?? ""))
        Foundation.exit(code.rawValue)
    }
}

/// Runs a command body, turning any failure into one line on stderr and exit status 1.
func reportingErrors(_ body: () async throws -> Void) async throws {
    do {
        try await body()
    } catch let error as ExitCode {
        throw error
    } catch let error as FerryError {
        printError(error.message)
        throw ExitCode(1)
    } catch is CancellationError {
        printError("interrupted")
        throw ExitCode(130)
    } catch {
        printError(FerryError(database: error)?.message ?? "\(error)")
        throw ExitCode(1)
    }
}

/// One line on standard error, `ferry: error: …`: line breaks become spaces and other control
/// characters are escaped (``TerminalText``), since the message may quote what a node or an
/// upstream said.
func printError(_ message: String) {
    let line = TerminalText.escape(message.replacingOccurrences(of: "\n", with: " "), limit: 1000)
    FileOutput.standardError.write("ferry: error: \(line)\n")
}
