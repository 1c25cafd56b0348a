import FerryCore
import FerryState
import FerryTestSupport
import Foundation
import Testing

@testable import FerryCoordinator

#if canImport(Glibc)
import Glibc
#endif

/// `ferry leader backup` / `restore` on a data directory made here: what is copied, with which
/// modes, and the refusals (an existing backup path, a non-empty target, a damaged backup).
@Suite("Leader backup and restore")
struct LeaderBackupTests {
    static func mode(_ path: String) -> mode_t {
        let permissions = (try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? NSNumber
        return mode_t(permissions?.uint32Value ?? 0o7777)
    }

    /// A leader-like data directory: a migrated database with one image, tokens, a blob, a partial download.
    static func makeDataDirectory(_ dir: TemporaryDirectory) async throws -> (path: String, blob: Digest) {
        let path = dir.sub("leader")
        try FileManager.default.createDirectory(atPath: "\(path)/store/blobs/sha256", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(path)/store/ingest/sha256", withIntermediateDirectories: true)
        let database = try FerryDatabase.open(path: "\(path)/state.db")
        _ = try await database.requestImage(try ImageReference(parsing: "registry.example.com/app:1"), platform: try Platform(parsing: "linux/amd64"))
        for name in ["admin-token", "join-token", "peer-key", "ca.pem", "ca-key.pem"] {
            try "\(name)-secret\n".write(toFile: "\(path)/\(name)", atomically: true, encoding: .utf8)
        }
        let bytes = Array("layer bytes".utf8)
        let blob = Digest.sha256(of: bytes)
        try Data(bytes).write(to: URL(fileURLWithPath: "\(path)/store/blobs/sha256/\(blob.encoded)"))
        try Data("partial".utf8).write(to: URL(fileURLWithPath: "\(path)/store/ingest/sha256/\(blob.encoded).partial"))
        return (path, blob)
    }

    /// An audit's backup onto a full disk said `File exists` (a restore: `No such file or
    /// directory`): a short write sets no `errno`, and a stale one was reported. A short write
    /// cannot be made here without root (a small file system) or a process-wide file size
    /// limit; this checks that a failing write reports its own `errno`, not the one before it.
    @Test("a write that fails says why: a full device is 'No space left on device', not the errno before it")
    func fullDiskSaysSo() throws {
        let full = open("/dev/full", O_WRONLY | O_CLOEXEC)
        try #require(full >= 0)
        defer { close(full) }
        errno = EEXIST
        let bytes = [UInt8](repeating: 7, count: 3 << 20)
        #expect(bytes.withUnsafeBytes { PrivateFile.writeAll(full, $0) } == ENOSPC)
    }

    @Test("A backup holds the database snapshot, the secrets and (asked for) the committed blobs, 0600/0700; a restore puts them back")
    func roundTrip() async throws {
        let dir = try TemporaryDirectory("backup")
        defer { dir.remove() }
        let (source, blob) = try await Self.makeDataDirectory(dir)
        let output = dir.sub("out")
        let manifest = try LeaderBackup.backup(dataDirectory: source, to: output, withStore: true)
        let paths = Set(manifest.entries.map(\.path))
        #expect(paths == ["state.db", "admin-token", "join-token", "peer-key", "ca.pem", "ca-key.pem", "store/blobs/sha256/\(blob.encoded)"])
        #expect(Self.mode(output) & 0o777 == 0o700)
        #expect(Self.mode("\(output)/store/blobs") & 0o777 == 0o700)
        for path in paths.union([BackupManifest.fileName]) { #expect(Self.mode("\(output)/\(path)") & 0o777 == 0o600, "\(path)") }

        let restored = dir.sub("restored")
        try LeaderBackup.restore(from: output, to: restored)
        for path in paths where path != "state.db" {
            #expect(FileManager.default.contents(atPath: "\(restored)/\(path)") == FileManager.default.contents(atPath: "\(source)/\(path)"))
        }
        #expect(!FileManager.default.fileExists(atPath: "\(restored)/store/ingest"))
        let database = try FerryDatabase.open(path: "\(restored)/state.db")
        #expect(try await database.images().map(\.reference) == ["registry.example.com/app:1"])

        let withoutStore = try LeaderBackup.backup(dataDirectory: source, to: dir.sub("small"), withStore: false)
        #expect(!withoutStore.withStore && !withoutStore.entries.contains { $0.path.hasPrefix("store/") })
    }

    @Test("An existing backup path, a non-empty target, a truncated or unfinished backup are refused")
    func refusals() async throws {
        let dir = try TemporaryDirectory("backup-bad")
        defer { dir.remove() }
        let (source, _) = try await Self.makeDataDirectory(dir)
        let output = dir.sub("out")
        try LeaderBackup.backup(dataDirectory: source, to: output, withStore: false)
        #expect(throws: FerryError.self) { try LeaderBackup.backup(dataDirectory: source, to: output, withStore: false) }
        #expect(throws: FerryError.self) { try LeaderBackup.backup(dataDirectory: dir.sub("nothing"), to: dir.sub("out2"), withStore: false) }
        #expect(!FileManager.default.fileExists(atPath: dir.sub("out2")))

        let occupied = dir.sub("occupied")
        try FileManager.default.createDirectory(atPath: occupied, withIntermediateDirectories: true)
        try "x".write(toFile: "\(occupied)/file", atomically: true, encoding: .utf8)
        do {
            try LeaderBackup.restore(from: output, to: occupied)
            Issue.record("restored into a non-empty directory")
        } catch let error as FerryError {
            #expect(error.message.contains("is not empty"))
        }

        // Truncated state.db: refused before anything is written.
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: "\(output)/state.db"))
        try handle.truncate(atOffset: 1024)
        try handle.close()
        let target = dir.sub("target")
        do {
            try LeaderBackup.restore(from: output, to: target)
            Issue.record("restored a truncated backup")
        } catch let error as FerryError {
            #expect(error.message.contains("state.db is 1024 bytes") && error.message.contains("truncated"), "\(error.message)")
        }
        #expect(!FileManager.default.fileExists(atPath: target))

        try FileManager.default.removeItem(atPath: "\(output)/\(BackupManifest.fileName)")
        do {
            try LeaderBackup.restore(from: output, to: target)
            Issue.record("restored a backup without its manifest")
        } catch let error as FerryError {
            #expect(error.message.contains("did not finish"))
        }
    }

    @Test("A manifest naming a path outside the data directory, or no database, is refused")
    func manifestChecks() {
        #expect(BackupManifest.isSafe("store/blobs/sha256/ab"))
        for bad in ["", "/etc/passwd", "../x", "a/../../x", "a//b", "./a"] { #expect(!BackupManifest.isSafe(bad), "\(bad)") }
        let entry = BackupManifest.Entry(path: "state.db", size: 10, sha256: "00")
        #expect(BackupManifest(createdAt: Date(), withStore: false, entries: [entry]).problem() == nil)
        #expect(BackupManifest(createdAt: Date(), withStore: false, entries: []).problem() != nil)
        #expect(BackupManifest(createdAt: Date(), withStore: false, entries: [entry, .init(path: "../x", size: 1, sha256: "")]).problem() != nil)
        #expect(BackupManifest(format: 99, createdAt: Date(), withStore: false, entries: [entry]).problem() != nil)
        #expect(BackupManifest.mismatch(entry, size: nil, sha256: nil) == "state.db is missing")
        #expect(BackupManifest.mismatch(entry, size: 10, sha256: "00") == nil)
        #expect(BackupManifest.mismatch(entry, size: 10, sha256: "01") != nil)
    }
}
