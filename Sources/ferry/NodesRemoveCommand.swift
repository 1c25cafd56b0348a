import ArgumentParser
import FerryCore
import FerryMesh
import Foundation

/// `ferry nodes remove NAME`: cuts a node off and frees its name.
struct NodesRemoveCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "remove",
        abstract: "Remove a node: its credential is refused at once, its unfinished install targets fail, its name is free again.",
        discussion: """
            Without --force a node that is still heartbeating or has unfinished install targets is \
            refused: stop its follower first. Use --force for a stolen or compromised node. To use \
            the machine again, delete its DATA_DIR/node.json and join with a join token.
            """)

    @OptionGroup var connection: LeaderConnection

    @Argument(help: "The node's name, as `ferry nodes` shows it.")
    var name: String

    @Flag(help: "Remove it even if it is reachable or has unfinished install targets.")
    var force = false

    func run() async throws {
        try await reportingErrors {
            let report = try await connection.client().removeNode(name, force: force)
            let failed = report.failedTargets == 0 ? "" : "; \(report.failedTargets) unfinished install target\(report.failedTargets == 1 ? "" : "s") failed"
            FileOutput.standardOutput.write("removed node \(report.name)\(failed)\n")
        }
    }
}
