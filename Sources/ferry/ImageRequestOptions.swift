import ArgumentParser
import FerryCore
import Foundation

/// What `ferry fetch` and `ferry install` share: the images asked for, and how to wait for and
/// print the answer.
struct ImageRequestOptions: ParsableArguments {
    @Argument(help: "Image references, e.g. registry.example.com/team/app:1.2 or alpine@sha256:…")
    var images: [String]

    @Flag(help: "Print the result as JSON.")
    var json = false

    @Flag(name: .customLong("no-wait"), help: "Return once the leader has accepted the request.")
    var noWait = false

    @Option(
        help: ArgumentHelp(
            "When the leader asks the upstream what a tag points at: always, missing or fallback.",
            discussion: """
                fallback: resolve upstream, and use the digest the leader holds when the upstream cannot be reached or \
                fails (a warning says so); missing: never ask upstream about a tag the leader holds; always: fail when \
                the upstream cannot answer.
                """))
    var pull: PullPolicy = .default

    /// Parses the references and `platform` here, for a clear error without a round trip.
    func checkLocally(platform: String?) throws {
        for image in images { _ = try ImageReference(parsing: image) }
        if let platform { _ = try Platform(parsing: platform) }
    }
}

extension PullPolicy: ExpressibleByArgument {}

/// Prints each warning once, as one `ferry: warning: …` line on standard error (escaped as
/// ``printError(_:)`` does: it may quote what the upstream said).
struct WarningPrinter {
    private var printed: Set<String> = []

    mutating func print(_ warnings: [String]) {
        for warning in warnings where printed.insert(warning).inserted {
            let line = TerminalText.escape(warning.replacingOccurrences(of: "\n", with: " "), limit: 1000)
            FileOutput.standardError.write("ferry: warning: \(line)\n")
        }
    }
}
