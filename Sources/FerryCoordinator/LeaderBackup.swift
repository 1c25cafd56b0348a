import Crypto
import FerryCore
import FerryDiagnostics
import FerryState
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// `ferry leader backup` and `ferry leader restore`: a leader's state, secrets and identity
/// (and, asked for, its blob store) copied while it runs, and put back into a new data directory.
///
/// A backup is a directory (0700, files 0600): `state.db` (SQLite's online backup, one
/// consistent snapshot), the tokens, the cluster CA, the leader's TLS and peer keys, with
/// `--with-store` the committed blobs (`store/blobs/…`, not downloads in progress), and last
/// ``BackupManifest`` (`backup.json`), which a restore checks every file against.
public enum LeaderBackup {
    public static let databaseFile = "state.db"
    /// The data directory's secrets and identity, copied when present.
    public static let identityFiles = ["admin-token", "join-token", "peer-key", "ca.pem", "ca-key.pem", "ca-vouch.pem", "tls.pem", "tls-key.pem"]

    /// Backs up the leader data directory `dataDirectory` (the leader may be running) into
    /// `output`, which must not exist. On failure nothing is left at `output`.
    @discardableResult
    public static func backup(dataDirectory: String, to output: String, withStore: Bool, logger: Logger = .disabled) throws -> BackupManifest {
        let source = dataDirectory.hasSuffix("/") ? String(dataDirectory.dropLast()) : dataDirectory
        guard FileManager.default.fileExists(atPath: "\(source)/\(databaseFile)") else {
            throw FerryError(.configuration, "'\(source)' is not a leader's data directory (it has no \(databaseFile))")
        }
        guard !FileManager.default.fileExists(atPath: output) else {
            throw FerryError(.configuration, "'\(output)' already exists; a backup never overwrites: name a new path")
        }
        guard mkdir(output, 0o700) == 0 else {
            throw FerryError(.configuration, "cannot create '\(output)': \(String(cString: strerror(errno)))")
        }
        var finished = false
        defer { if !finished { try? FileManager.default.removeItem(atPath: output) } }
        let manifest = try writeBackup(from: source, to: output, withStore: withStore, logger: logger)
        finished = true
        return manifest
    }

    /// The files of a backup, then its manifest, into the new directory `output`.
    private static func writeBackup(from source: String, to output: String, withStore: Bool, logger: Logger) throws(FerryError) -> BackupManifest {
            var entries: [BackupManifest.Entry] = []
            // The database first: every blob it records present was committed before, so the
            // store copied next holds it (unless collected meanwhile; the leader then fetches it again).
            let database = "\(output)/\(databaseFile)"
            try FerryDatabase.backup(databaseAt: "\(source)/\(databaseFile)", to: database)
            chmod(database, 0o600)
            entries.append(try entry(databaseFile, at: database))
            for name in identityFiles where FileManager.default.fileExists(atPath: "\(source)/\(name)") {
                entries.append(try copy(name, from: source, to: output))
            }
            guard entries.contains(where: { $0.path == "admin-token" }) else {
                throw FerryError(.configuration, "'\(source)' has no admin-token: is it a leader's data directory?")
            }
            if withStore {
                for path in storeBlobs(in: source) {
                    guard let copied = try copy(path, from: source, to: output, skipMissing: true) else {
                        logger.info("a blob was collected while the backup ran; skipped", metadata: ["path": "\(path)"])
                        continue
                    }
                    entries.append(copied)
                }
            }
            let manifest = BackupManifest(createdAt: Date(), withStore: withStore, entries: entries)
            let encoder = JSONEncoder()
            encoder.dateEncodingStrategy = .iso8601
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            guard let json = try? encoder.encode(manifest) else { throw FerryError(.internal, "cannot encode the backup manifest") }
            try writeFile(json, to: "\(output)/\(BackupManifest.fileName)")
            return manifest
    }

    /// Restores the backup at `backup` into `dataDirectory`, which must be missing or empty,
    /// after checking every file of the backup against its manifest.
    @discardableResult
    public static func restore(from backup: String, to dataDirectory: String) throws -> BackupManifest {
        if let contents = try? FileManager.default.contentsOfDirectory(atPath: dataDirectory), !contents.isEmpty {
            throw FerryError(.configuration, "'\(dataDirectory)' is not empty; restore into a new or empty directory")
        }
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: dataDirectory, isDirectory: &isDirectory), !isDirectory.boolValue {
            throw FerryError(.configuration, "'\(dataDirectory)' is a file; restore into a new or empty directory")
        }
        let manifest = try readManifest(backup)
        for entry in manifest.entries {
            let path = "\(backup)/\(entry.path)"
            let found = try? digest(of: path)
            if let problem = BackupManifest.mismatch(entry, size: found?.size, sha256: found?.sha256) {
                throw FerryError(.configuration, "the backup at '\(backup)' is damaged: \(problem); restore from another backup")
            }
        }
        let created = !FileManager.default.fileExists(atPath: dataDirectory)
        if created, mkdir(dataDirectory, 0o700) != 0 {
            throw FerryError(.configuration, "cannot create '\(dataDirectory)': \(String(cString: strerror(errno)))")
        }
        chmod(dataDirectory, 0o700)
        var finished = false
        defer { if !finished && created { try? FileManager.default.removeItem(atPath: dataDirectory) } }
        for entry in manifest.entries {
            let copied = try copy(entry.path, from: backup, to: dataDirectory)
            guard copied.sha256 == entry.sha256 else {
                throw FerryError(.configuration, "the backup at '\(backup)' changed while it was restored (\(entry.path))")
            }
        }
        finished = true
        return manifest
    }

    /// Reads and checks `backup.json`.
    public static func readManifest(_ backup: String) throws(FerryError) -> BackupManifest {
        let path = "\(backup)/\(BackupManifest.fileName)"
        guard FileManager.default.fileExists(atPath: backup) else { throw FerryError(.configuration, "no backup at '\(backup)'") }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FerryError(
                .configuration, "'\(backup)' is not a whole Ferry backup: it has no \(BackupManifest.fileName) (the backup did not finish)")
        }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        guard let manifest = try? decoder.decode(BackupManifest.self, from: data) else {
            throw FerryError(.configuration, "the backup at '\(backup)' is damaged: its \(BackupManifest.fileName) cannot be read")
        }
        if let problem = manifest.problem() { throw FerryError(.configuration, "cannot restore the backup at '\(backup)': \(problem)") }
        return manifest
    }

    /// The committed blobs of the store in `dataDirectory`, as paths relative to it.
    static func storeBlobs(in dataDirectory: String) -> [String] {
        let blobs = "\(dataDirectory)/store/blobs"
        var paths: [String] = []
        for algorithm in (try? FileManager.default.contentsOfDirectory(atPath: blobs))?.sorted() ?? [] {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: "\(blobs)/\(algorithm)"))?.sorted() ?? []
            where (try? Digest(parsing: "\(algorithm):\(name)")) != nil {
                paths.append("store/blobs/\(algorithm)/\(name)")
            }
        }
        return paths
    }

    // MARK: Files

    /// Copies `path` (relative) from `source` to `destination`, creating directories 0700 and the
    /// file 0600 (never over an existing one), fsynced; returns its entry.
    static func copy(_ path: String, from source: String, to destination: String) throws(FerryError) -> BackupManifest.Entry {
        try copy(path, from: source, to: destination, skipMissing: false)!
    }

    /// As ``copy(_:from:to:)``; nil when `skipMissing` and the source file does not exist.
    static func copy(_ path: String, from source: String, to destination: String, skipMissing: Bool) throws(FerryError) -> BackupManifest.Entry? {
        let parts = path.split(separator: "/").map(String.init)
        var directory = destination
        for part in parts.dropLast() {
            directory += "/\(part)"
            if mkdir(directory, 0o700) != 0 && errno != EEXIST {
                throw FerryError(.configuration, "cannot create '\(directory)': \(String(cString: strerror(errno)))")
            }
        }
        let input = open("\(source)/\(path)", O_RDONLY | O_CLOEXEC)
        if input < 0 && errno == ENOENT && skipMissing { return nil }
        guard input >= 0 else { throw FerryError(.configuration, "cannot read '\(source)/\(path)': \(String(cString: strerror(errno)))") }
        defer { close(input) }
        let target = "\(destination)/\(path)"
        let output = open(target, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard output >= 0 else { throw FerryError(.configuration, "cannot create '\(target)': \(String(cString: strerror(errno)))") }
        defer { close(output) }
        let found = try digest(input, named: "\(source)/\(path)", copyingTo: (output, target))
        guard fsync(output) == 0 else {
            let failure = errno
            throw FerryError(failure == ENOSPC ? .insufficientSpace : .configuration, "cannot write '\(target)': \(String(cString: strerror(failure)))")
        }
        return BackupManifest.Entry(path: path, size: found.size, sha256: found.sha256)
    }

    static func entry(_ path: String, at file: String) throws(FerryError) -> BackupManifest.Entry {
        let found = try digest(of: file)
        return BackupManifest.Entry(path: path, size: found.size, sha256: found.sha256)
    }

    /// Size and SHA-256 of a file.
    static func digest(of file: String) throws(FerryError) -> (size: Int64, sha256: String) {
        let input = open(file, O_RDONLY | O_CLOEXEC)
        guard input >= 0 else { throw FerryError(.configuration, "cannot read '\(file)': \(String(cString: strerror(errno)))") }
        defer { close(input) }
        return try digest(input, named: file)
    }

    /// Size and SHA-256 of what is left to read from `input` (`name` in errors), written on to
    /// `copy` as it is read when one is given.
    private static func digest(_ input: Int32, named name: String, copyingTo copy: (output: Int32, name: String)? = nil) throws(FerryError)
        -> (size: Int64, sha256: String)
    {
        var hasher = SHA256()
        var size: Int64 = 0
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            guard count >= 0 else { throw FerryError(.configuration, "cannot read '\(name)': \(String(cString: strerror(errno)))") }
            if count == 0 { break }
            if let copy {
                let failure = buffer.withUnsafeBytes { PrivateFile.writeAll(copy.output, UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
                guard failure == 0 else { throw FerryError(.insufficientSpace, "cannot write '\(copy.name)': \(String(cString: strerror(failure)))") }
            }
            hasher.update(data: buffer[0..<count])
            size += Int64(count)
        }
        return (size, hasher.finalize().map { String(format: "%02x", $0) }.joined())
    }

    static func writeFile(_ data: Data, to file: String) throws(FerryError) {
        let temp = file + ".tmp"
        let fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw FerryError(.configuration, "cannot write '\(file)': \(String(cString: strerror(errno)))") }
        let bytes = [UInt8](data)
        var failure = bytes.withUnsafeBytes { PrivateFile.writeAll(fd, $0) }
        if failure == 0, fsync(fd) != 0 { failure = errno }
        close(fd)
        if failure == 0, rename(temp, file) != 0 { failure = errno }
        guard failure == 0 else {
            unlink(temp)
            throw FerryError(failure == ENOSPC ? .insufficientSpace : .configuration, "cannot write '\(file)': \(String(cString: strerror(failure)))")
        }
    }
}
