import ArgumentParser
import FerryCore
import FerryCoordinator
import FerryMesh
import Foundation

struct GCCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gc",
        abstract: "Remove blobs and manifests no retained image references, on the leader or on a follower.",
        discussion: """
            On the leader (--leader/--token-file, or --data-dir of a local leader) it removes what no image \
            references; with --keep N it first drops all but the last N fetched versions of each \
            repository (per registry and platform), never an image a running install targets. \
            With --data-dir of a follower it asks that running follower to collect in its own store \
            (authenticated with its DATA_DIR/node.json); the follower tells the leader what it removed. \
            A blob being written, read or used by a running install is never removed. See docs/gc.md.
            """
    )

    @OptionGroup var output: AdminOutputOptions

    @Option(parsing: .unconditional, help: "Keep only the last N fetched versions of each repository (per registry and platform). Default: keep every image.")
    var keep: Int?

    @Flag(name: .customLong("dry-run"), help: "Show what would be removed; remove nothing.")
    var dryRun = false

    func run() async throws {
        try await reportingErrors {
            if let keep, keep < 1 { throw FerryError(.invalidArgument, "--keep must be at least 1") }
            let request = GarbageCollectionRequest(keep: keep, dryRun: dryRun)
            let report: GarbageCollectionReport
            if let directory = output.connection.dataDirectory, let follower = try LocalAdminEndpoint.follower(dataDirectory: directory) {
                report = try await Self.collectOnFollower(request, url: follower.url, credential: follower.credential, directory: directory)
            } else {
                report = try await output.connection.client().collectGarbage(request)
            }
            try output.print(report, text: Self.render)
        }
    }

    static func collectOnFollower(_ request: GarbageCollectionRequest, url: String, credential: String, directory: String) async throws
        -> GarbageCollectionReport
    {
        let client = AdminClient(followerURL: url, credential: credential, caFile: LeaderConnection.caFile(in: directory))
        do {
            return try await client.collectGarbage(request)
        } catch let error as FerryError where error.code == .upstreamUnreachable {
            throw FerryError(.upstreamUnreachable, "cannot reach the follower at \(url); is `ferry follower --data-dir \(directory)` running?")
        } catch let error as FerryError where error.code == .unauthorized {
            throw FerryError(.unauthorized, "the follower at \(url) refused the node credential in \(directory)/node.json")
        }
    }

    /// Human-readable lines: a summary, then one line per image, blob and blob kept.
    static func render(_ report: GarbageCollectionReport) -> String {
        let verb = report.dryRun ? "would remove" : "removed"
        var text = "\(report.node): \(verb) \(report.images.count) image\(report.images.count == 1 ? "" : "s"), "
        text += "\(report.blobs.count) blob\(report.blobs.count == 1 ? "" : "s"), \(report.manifests.count) manifest\(report.manifests.count == 1 ? "" : "s"); "
        text += "\(report.dryRun ? "would free" : "freed") \(ByteSize.format(report.bytesFreed))\n"
        var rows: [[String]] = []
        for image in report.images { rows.append(["  image", "\(image.reference) (\(image.platform))", ""]) }
        for blob in report.blobs { rows.append(["  blob", blob.digest.description, ByteSize.format(blob.size)]) }
        for blob in report.inUse { rows.append(["  kept", "\(blob.digest) (\(blob.reason ?? "in use"))", ByteSize.format(blob.size)]) }
        let widths = (0..<3).map { column in rows.map { $0[column].count }.max() ?? 0 }
        for row in rows {
            // Trailing padding only: the leading indent is the layout (docs/gc.md).
            var line = row.enumerated().map { $0.element.padding(toLength: widths[$0.offset], withPad: " ", startingAt: 0) }.joined(separator: "  ")
            while line.last == " " { line.removeLast() }
            text += line + "\n"
        }
        return text
    }
}
