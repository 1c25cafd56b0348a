import ArgumentParser
import FerryCore
import FerryMesh
import Foundation

/// `ferry token create|list|revoke`: the join tokens followers join with.
struct TokenCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token",
        abstract: "Create, list and revoke join tokens.",
        discussion: """
            A join token lets a machine join the cluster as a follower (--join-token-file or \
            FERRY_JOIN_TOKEN). Give each provisioning round its own token with an expiry and a number \
            of uses; the leader keeps only a hash of it. The leader's DATA_DIR/join-token is one too \
            (no expiry, any number of uses) and can be revoked like the others.
            """,
        subcommands: [TokenCreateCommand.self, TokenListCommand.self, TokenRevokeCommand.self]
    )
}

struct TokenCreateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Create a join token and print it (the only time it is shown).")

    @OptionGroup var connection: LeaderConnection

    @Option(help: "How long it is valid, e.g. 30m, 24h, 7d. Default: until revoked.")
    var ttl: String?

    @Option(help: "How many joins it allows. Default: any number.")
    var uses: Int?

    @Option(name: .customLong("description"), help: "What it is for (shown by `ferry token list`).")
    var purpose: String?

    @Flag(help: "Print JSON (with the token).")
    var json = false

    func run() async throws {
        try await reportingErrors {
            let ttlSeconds = try ttl.map { text throws(FerryError) in try TimeToLive.parse(text, bareSeconds: true).components.seconds }
            let request = try JoinTokenRequest(ttlSeconds: ttlSeconds, uses: uses, description: purpose).validated()
            let created = try await connection.client().createJoinToken(request)
            if json { return try FileOutput.standardOutput.writeJSON(created) }
            FileOutput.standardOutput.write(created.token + "\n")
        }
    }
}

struct TokenListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List join tokens: id, state, created, expires, uses left, used, description (never the token).")

    @OptionGroup var output: AdminOutputOptions

    func run() async throws {
        try await reportingErrors {
            let header = ["ID", "STATE", "CREATED", "EXPIRES", "USES LEFT", "USED", "DESCRIPTION"]
            try output.print(try await output.connection.client().joinTokens(), header: header) { list in
                list.tokens.map { token in
                    [
                        "\(token.id)", token.state == .revoked ? "revoked" : token.state.rawValue, token.createdAt.formatted(.iso8601),
                        token.expiresAt.map { $0.formatted(.iso8601) } ?? "never", token.usesLeft.map { "\($0)" } ?? "unlimited", "\(token.uses)",
                        token.description.isEmpty ? "-" : token.description,
                    ]
                }
            }
        }
    }
}

struct TokenRevokeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "revoke",
        abstract: "Revoke a join token: joins with it are refused from now on (nodes that joined with it keep working).")

    @OptionGroup var connection: LeaderConnection

    @Argument(help: "The token's id, as `ferry token list` shows it.")
    var id: Int64

    func run() async throws {
        try await reportingErrors {
            let token = try await connection.client().revokeJoinToken(id: id)
            FileOutput.standardOutput.write("revoked join token \(token.id)\n")
        }
    }
}
