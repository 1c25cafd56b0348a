import ArgumentParser
import FerryCore
import FerryMesh
import Foundation

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show installs: all of them, or one in detail per node and image."
    )

    @OptionGroup var output: AdminOutputOptions

    @Argument(help: "An install id; without one, every install is listed.")
    var install: Int64?

    @Flag(help: "Follow an install until it finishes.")
    var follow = false

    func run() async throws {
        try await reportingErrors {
            let client = try output.connection.client()
            guard let install else {
                return try output.print(try await client.installs(), header: ["INSTALL", "STATE", "DONE", "FAILED", "NODES", "IMAGES", "CREATED"]) { list in
                    list.installs.map { status in
                        [
                            "\(status.id)", status.state.rawValue, "\(status.targets.filter { $0.state == .done }.count)/\(status.targets.count)",
                            "\(status.targets.filter { $0.state == .failed }.count)", "\(status.nodes.count)",
                            status.images.joined(separator: ","), status.createdAt.formatted(.iso8601),
                        ]
                    }
                }
            }
            if follow {
                let final = try await InstallOutput.follow(install: install, client: client, json: output.json)
                if output.json { try FileOutput.standardOutput.writeJSON(final) }
                return try InstallOutput.exitStatus(final, json: output.json)
            }
            try output.print(try await client.install(id: install), header: ["NODE", "IMAGE", "STATE", "PROGRESS", "ATTEMPTS", "DETAIL"]) { status in
                FileOutput.standardOutput.write("install \(status.id): \(status.state), max \(status.maxParallel) loading at once\n")
                for warning in status.warnings ?? [] {
                    FileOutput.standardOutput.write("warning: \(TerminalText.escape(warning.replacingOccurrences(of: "\n", with: " "), limit: 1000))\n")
                }
                return status.targets.map { target in
                    [
                        target.node, target.image, target.state.rawValue, "\(ByteSize.format(target.bytesDone))/\(ByteSize.format(target.bytesTotal))",
                        "\(target.attempts)", target.error.map { "\($0.code): \($0.message)" } ?? target.note ?? "",
                    ]
                }
            }
        }
    }

    /// `in 364d`, `in 5h`, `in 40s`, or `expired`.
    static func remaining(until date: Date, now: Date) -> String {
        let seconds = Int(date.timeIntervalSince(now))
        return seconds < 1 ? "expired" : "in \(span(seconds))"
    }

    /// `when` as `12s ago`, `5m ago`, `3h ago`, `2d ago`.
    static func ago(_ when: Date, now: Date) -> String {
        "\(span(max(Int(now.timeIntervalSince(when)), 0))) ago"
    }

    /// Seconds below 2 minutes, minutes below 2 hours, hours below 2 days, then days.
    static func span(_ seconds: Int) -> String {
        switch seconds {
        case ..<120: "\(seconds)s"
        case ..<(2 * 3600): "\(seconds / 60)m"
        case ..<(2 * 86400): "\(seconds / 3600)h"
        default: "\(seconds / 86400)d"
        }
    }
}

struct NodesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nodes",
        abstract: "List the nodes that joined: address, last seen, state, Docker engine, certificate expiry, images held.",
        usage: "ferry nodes [<options>] [remove ...]",
        subcommands: [NodesRemoveCommand.self]
    )

    @OptionGroup var output: AdminOutputOptions

    func run() async throws {
        try await reportingErrors {
            let header = ["NAME", "ADDRESS", "LAST SEEN", "STATE", "DOCKER", "FLAGS", "CERT EXPIRES", "IMAGES"]
            try output.print(try await output.connection.client().nodes(), header: header) { list in
                let now = Date()
                if let ca = list.caExpiresAt, ca.timeIntervalSince(now) < 365 * 24 * 3600 {
                    FileOutput.standardError.write(
                        "warning: the cluster CA expires \(StatusCommand.remaining(until: ca, now: now)) (\(ca)): make a new one before then with `ferry leader new-ca` (docs/operations.md, Certificates)\n")
                }
                return list.nodes.map { node in
                    [
                        node.name, node.address ?? "-", StatusCommand.ago(node.lastSeen, now: now), node.state.rawValue,
                        node.dockerVersion ?? (node.dockerError.map { "unreachable (\(TerminalText.escape($0, limit: 60)))" } ?? "-"),
                        node.corruptTransfers > 0 ? "reported by \(node.corruptTransfers) nodes" : "-",
                        node.certificateExpiresAt.map { StatusCommand.remaining(until: $0, now: now) } ?? "-",
                        node.images.isEmpty ? "-" : node.images.joined(separator: ","),
                    ]
                }
            }
        }
    }
}

/// Prints rows as left-aligned columns, each cell escaped and bounded (``TerminalText``): what
/// nodes and upstreams say cannot move the cursor or add a row.
func printTable(_ rows: [[String]]) {
    let rows = rows.map { $0.map { TerminalText.escape($0) } }
    guard let first = rows.first else { return }
    let widths = (0..<first.count).map { column in rows.map { $0[column].count }.max() ?? 0 }
    for row in rows {
        let line = row.enumerated().map { index, cell in index == row.count - 1 ? cell : cell.padding(to: widths[index]) }
        FileOutput.standardOutput.write(line.joined(separator: "  ") + "\n")
    }
}
