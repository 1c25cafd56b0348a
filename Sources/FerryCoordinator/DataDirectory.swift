import Crypto
import FerryCore
import FerryMesh
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// A node's data directory: its files, its secrets, and an exclusive lock so two daemons
/// never share one.
public struct DataDirectory: Sendable {
    public let path: String

    /// Why a directory cannot be made at `path` when a parent is a file (Foundation's own message
    /// is `NSCocoaErrorDomain error 512`): nil when no parent is in the way.
    static func fileInTheWay(of path: String) -> String? {
        var current = (path as NSString).deletingLastPathComponent
        while !current.isEmpty, current != "/" {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: current, isDirectory: &isDirectory) {
                return isDirectory.boolValue ? nil : "'\(current)' is a file, not a directory"
            }
            current = (current as NSString).deletingLastPathComponent
        }
        return nil
    }

    /// Opens the directory, creating it (0700) if needed, and secures what is in it
    /// (``securePermissions()``): an entry owned by another user is refused, one open to group
    /// or others is tightened, with a notice in `logger`. A file, or a directory holding a
    /// subdirectory Ferry did not make, is refused before anything in it is touched; so is, with
    /// `role`, a directory another daemon wrote (``refuseOtherRole(at:role:)``).
    public init(_ path: String, role: Role? = nil, logger: Logger? = nil) throws(FerryError) {
        self.path = path
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw FerryError(.configuration, "the data directory '\(path)' is a file, not a directory: choose a directory for --data-dir (it is created if missing)")
            }
            let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
            let entries = names.map { name in
                // Not following a link: a link to a directory is not a subdirectory of this tree.
                let type = (try? FileManager.default.attributesOfItem(atPath: "\(path)/\(name)"))?[.type] as? FileAttributeType
                return (name: name, isDirectory: type == .typeDirectory)
            }
            if let stranger = DataDirectoryPermissions.strangerEntry(among: entries) {
                throw FerryError(
                    .configuration,
                    "the data directory '\(path)' holds a directory Ferry did not make ('\(stranger)'): choose a new or empty directory for --data-dir, or the one an earlier Ferry used")
            }
            if let role { try Self.refuseOtherRole(at: path, role: role) }
        }
        if mkdir(path, 0o700) != 0 && errno != EEXIST {
            do {
                try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw FerryError(.configuration, "cannot create data directory '\(path)': \(Self.fileInTheWay(of: path) ?? error.localizedDescription)")
            }
        }
        let tightened = try securePermissions()
        if !tightened.isEmpty {
            logger?.notice(
                "the data directory was open to other users: restricted it to this one (directories 0700, files 0600)",
                metadata: [
                    "directory": "\(path)", "entries": "\(tightened.count)",
                    "examples": "\(tightened.prefix(5).joined(separator: ", "))",
                ])
        }
    }

    public var databasePath: String { "\(path)/state.db" }
    public var storePath: String { "\(path)/store" }
    public var adminTokenPath: String { "\(path)/admin-token" }
    /// The leader's Ed25519 key for signing peer tokens (hex of the raw 32 bytes, 0600).
    public var peerKeyPath: String { "\(path)/peer-key" }
    public var joinTokenPath: String { "\(path)/join-token" }
    /// Where a running leader writes the URL it listens on, for CLI commands run with `--data-dir`.
    public var addressPath: String { "\(path)/address" }

    /// Records the URL a daemon listening on `host:port` is reached at from this machine
    /// (loopback for a wildcard address) in ``addressPath``, for CLI commands run with
    /// `--data-dir`, and returns it.
    @discardableResult
    public func publishAddress(scheme: String, host: String, port: Int) -> String {
        let url = NodeAddress.localURL(scheme: scheme, host: host, port: port)
        try? writeAtomically(url + "\n", to: addressPath)
        return url
    }

    /// Takes an exclusive `flock` on `DIR/lock` until the returned lock is released (or freed).
    /// Fails at once, with a clear message, when another daemon holds it.
    public func lock() throws(FerryError) -> DirectoryLock { try DirectoryLock.acquire(in: path) }

    /// Reads a secret file, or creates it (mode 0600) with a fresh random token.
    /// Returns the token and whether it was created now.
    public func secret(at file: String, make: () -> String = DataDirectory.randomToken) throws(FerryError) -> (token: String, created: Bool) {
        if let existing = try? String(contentsOfFile: file, encoding: .utf8) {
            let token = existing.trimmingWhitespace()
            guard !token.isEmpty else { throw FerryError(.configuration, "the token file '\(file)' is empty; delete it to have a new one made") }
            return (token, false)
        }
        let token = make()
        let fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw FerryError(.configuration, "cannot create the token file '\(file)': \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let line = Array((token + "\n").utf8)
        guard write(fd, line, line.count) == line.count, fsync(fd) == 0 else {
            unlink(file)
            throw FerryError(.configuration, "cannot write the token file '\(file)'")
        }
        return (token, true)
    }

    /// The join token (`fjt1.<secret>.<ca fingerprint>`), created on first use; rewritten with the
    /// current fingerprint (same secret) if the CA changed.
    public func joinToken(fingerprint: String) throws(FerryError) -> (token: String, created: Bool) {
        let made = try secret(at: joinTokenPath, make: { JoinToken(secret: Self.randomToken(), caFingerprint: fingerprint).description })
        if let parsed = try? JoinToken(parsing: made.token), parsed.caFingerprint == fingerprint { return made }
        let secret = (try? JoinToken(parsing: made.token))?.secret ?? made.token.filter(\.isHexDigit)
        let token = JoinToken(secret: secret.count >= 32 ? secret : Self.randomToken(), caFingerprint: fingerprint).description
        try writeAtomically(token + "\n", to: joinTokenPath, mode: 0o600)
        return (token, true)
    }

    /// The leader's peer-token signing key, created on first use.
    public func peerSigningKey() throws(FerryError) -> Curve25519.Signing.PrivateKey {
        let (hex, _) = try secret(at: peerKeyPath, make: { Self.hex(Curve25519.Signing.PrivateKey().rawRepresentation) })
        let bytes = stride(from: 0, to: hex.count, by: 2).compactMap { offset -> UInt8? in
            let start = hex.index(hex.startIndex, offsetBy: offset)
            return UInt8(hex[start..<hex.index(start, offsetBy: 2, limitedBy: hex.endIndex)!], radix: 16)
        }
        guard bytes.count == 32, let key = try? Curve25519.Signing.PrivateKey(rawRepresentation: bytes) else {
            throw FerryError(.configuration, "the peer key file '\(peerKeyPath)' is damaged; delete it to have a new one made (followers must join again)")
        }
        return key
    }

    static func hex(_ bytes: some Sequence<UInt8>) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    /// 32 random bytes, hex: 256 bits from the system's CSPRNG.
    public static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }

    /// Writes a small file atomically (temp file, fsync, rename); private to this user unless
    /// `mode` says otherwise.
    public func writeAtomically(_ contents: String, to file: String, mode: mode_t = 0o600) throws(FerryError) {
        try PrivateFile.write(Array(contents.utf8), to: file, mode: mode)
    }
}
