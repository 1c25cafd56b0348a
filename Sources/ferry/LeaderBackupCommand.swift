import ArgumentParser
import FerryCoordinator
import FerryCore
import Foundation

struct LeaderBackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup",
        abstract: "Back up a leader's data directory (--data-dir DIR), while it runs, into a new directory.",
        usage: "ferry leader --data-dir <data-dir> backup [--with-store] <output>",
        discussion: """
            ferry leader backup --data-dir DIR [--with-store] OUT. Copies the state (SQLite online backup: one consistent snapshot), the admin and join tokens, \
            the cluster CA and the leader's TLS and peer keys; with --with-store also the blob store. \
            OUT must not exist; it is created 0700 with files 0600 (it holds the cluster's secrets). \
            backup.json, written last, lists every file with its size and SHA-256.
            """
    )

    /// `--data-dir` (the leader's data directory) is `ferry leader`'s option.
    @ParentCommand var leader: LeaderCommand

    @Flag(name: .customLong("with-store"), help: "Include the blob store (restored, nothing in it is fetched again).")
    var withStore = false

    @Argument(help: "Where to write the backup: a path that does not exist yet.")
    var output: String

    func run() async throws {
        try await reportingErrors {
            let manifest = try LeaderBackup.backup(dataDirectory: leader.dataDirectory, to: output, withStore: withStore)
            let bytes = manifest.entries.reduce(Int64(0)) { $0 + $1.size }
            let blobs = manifest.entries.filter { $0.path.hasPrefix("store/") }.count
            FileOutput.standardOutput.write(
                "backup written to \(output): \(manifest.entries.count) files, \(ByteSize.format(bytes))\(withStore ? ", \(blobs) blobs" : "")\n")
        }
    }
}

struct LeaderRestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore a leader backup into a new data directory (--data-dir NEW).",
        usage: "ferry leader --data-dir <data-dir> restore <backup>",
        discussion: """
            ferry leader restore OUT --data-dir NEW. Checks every file of the backup against its backup.json first, then copies it into the \
            data directory, which must be missing or empty. Start the leader on it as before (same \
            --listen, so that followers find it): the CA and tokens are the backup's, so followers \
            reconnect without joining again.
            """
    )

    @Argument(help: "The backup (a directory written by `ferry leader backup`).")
    var backup: String

    /// `--data-dir` (the new data directory: missing or empty) is `ferry leader`'s option.
    @ParentCommand var leader: LeaderCommand

    func run() async throws {
        try await reportingErrors {
            let manifest = try LeaderBackup.restore(from: backup, to: leader.dataDirectory)
            FileOutput.standardOutput.write(
                "restored the backup of \(manifest.createdAt.formatted(.iso8601)) into \(leader.dataDirectory): \(manifest.entries.count) files\(manifest.withStore ? "" : " (no store: the images it held are fetched again when an install asks for them)")\n")
        }
    }
}
