import FerryCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What may be in a data directory, as far as the file system's permissions go: everything
/// belongs to the user running the daemon and nothing is open to group or others (directories
/// 0700, files 0600). The state database, the tokens, the keys, `node.json` and the store's blobs
/// are all secrets or private content of the node.
///
/// A pure decision per entry; ``DataDirectory/securePermissions()`` walks the directory and acts.
enum DataDirectoryPermissions {
    enum Decision: Equatable {
        /// Owned by us, closed to group and others.
        case fine
        /// Owned by us, but open to group or others: chmod to this mode.
        case tighten(to: mode_t)
        /// Owned by another user: refuse to use the directory.
        case foreign(owner: uid_t)
    }

    /// Permission bits that must be clear: read, write and execute for group and others.
    static let open: mode_t = 0o077

    /// Decides for one entry of `mode` (with its file type bits) owned by `owner`, when the
    /// daemon runs as `user`. Symbolic links are not judged (their own mode means nothing and
    /// they are not followed).
    static func decide(mode: mode_t, owner: uid_t, user: uid_t) -> Decision {
        if mode & S_IFMT == S_IFLNK { return .fine }
        guard owner == user else { return .foreign(owner: owner) }
        guard mode & open != 0 else { return .fine }
        return .tighten(to: mode & 0o700)
    }

    /// Whether a directory that already exists may be taken over as a data directory, given its
    /// entries: one a Ferry daemon already used (it holds `state.db` or `lock`) may, and so may one
    /// holding only files (a log the operator sends there, say), which are then tightened like
    /// Ferry's own. A subdirectory Ferry does not make (anything but `store`, or a mount point's
    /// `lost+found`) shows the directory is someone else's tree — a mistyped `--data-dir /srv` —
    /// whose permissions must not be touched: it is returned.
    static func strangerEntry(among entries: [(name: String, isDirectory: Bool)]) -> String? {
        let names = Set(entries.map(\.name))
        if names.contains("state.db") || names.contains("lock") { return nil }
        return entries.filter { $0.isDirectory && $0.name != "store" && $0.name != "lost+found" }.map(\.name).sorted().first
    }
}

extension DataDirectory {
    /// Checks the data directory and everything in it: an entry owned by another user is
    /// refused (one clear error), one open to group or others is tightened (directories 0700,
    /// files 0600, the owner's bits kept). Returns the paths it tightened, for the daemon's log.
    /// Symbolic links are neither changed nor followed.
    func securePermissions() throws(FerryError) -> [String] {
        let user = geteuid()
        let files = FileManager.default
        var tightened: [String] = []
        // The directory itself may be reached through a symbolic link; entries inside are not followed.
        var pending = [URL(fileURLWithPath: path).resolvingSymlinksInPath().path]
        while let current = pending.popLast() {
            // `attributesOfItem` does not follow a symbolic link; an entry gone meanwhile is skipped.
            guard let attributes = try? files.attributesOfItem(atPath: current),
                let permissions = (attributes[.posixPermissions] as? NSNumber)?.uint32Value,
                let owner = (attributes[.ownerAccountID] as? NSNumber)?.uint32Value
            else { continue }
            let type = attributes[.type] as? FileAttributeType
            let kind: mode_t = type == .typeSymbolicLink ? S_IFLNK : type == .typeDirectory ? S_IFDIR : S_IFREG
            switch DataDirectoryPermissions.decide(mode: kind | mode_t(permissions), owner: uid_t(owner), user: user) {
            case .fine:
                break
            case .foreign(let owner):
                throw FerryError(
                    .configuration,
                    "'\(current)' in the data directory belongs to another user (uid \(owner)), not to this one (uid \(user)): run Ferry as that user, or give the directory to this one (chown -R), or choose another --data-dir")
            case .tighten(let mode):
                guard chmod(current, mode) == 0 else {
                    throw FerryError(.configuration, "cannot restrict the permissions of '\(current)': \(String(cString: strerror(errno)))")
                }
                tightened.append(current)
            }
            if type == .typeDirectory, let names = try? files.contentsOfDirectory(atPath: current) {
                pending.append(contentsOf: names.map { "\(current)/\($0)" })
            }
        }
        return tightened
    }
}
