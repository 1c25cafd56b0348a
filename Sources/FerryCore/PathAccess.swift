#if canImport(Glibc)
import Glibc
#endif

/// Why a path named on the command line cannot be used, in words an operator acts on.
public enum PathAccess {
    /// Nil when `path` is a directory this process may read (and write, with `writing`);
    /// otherwise what is wrong ("it does not exist", "it is not a directory", a permission problem
    /// naming the owner).
    public static func problem(_ path: String, writing: Bool = false) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else {
            switch errno {
            case ENOENT: return missing
            case EACCES: return "permission denied: a directory above it is closed to uid \(geteuid()); run as the user that runs the daemon"
            default: return Self.lowercased(strerror(errno))
            }
        }
        guard info.st_mode & S_IFMT == S_IFDIR else { return "it is not a directory" }
        guard access(path, R_OK | X_OK | (writing ? W_OK : 0)) == 0 else {
            let reason = Self.lowercased(strerror(errno))
            guard errno == EACCES, info.st_uid != geteuid() else { return reason }
            return "\(reason): it belongs to uid \(info.st_uid) and this is uid \(geteuid()); run as that user"
        }
        return nil
    }

    /// The permission bits of the file at `path` (e.g. `0o644`) when group or others may use it;
    /// nil when they may not, or when it cannot be read (that is the caller's error to word).
    public static func openToOthers(_ path: String) -> mode_t? {
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & 0o077 != 0 else { return nil }
        return info.st_mode & 0o7777
    }

    /// What to say of `file`, which holds a secret (`what`: "admin token", "upstream
    /// credentials"), when group or others may use it (as ssh says of a private key); nil when
    /// they may not. One wording whether the caller warns (the CLI, the leader) or refuses (the
    /// proxy's vendor credentials).
    public static func openSecretNotice(_ file: String, what: String) -> String? {
        guard let bits = openToOthers(file) else { return nil }
        return "the \(what) file '\(TerminalText.escape(file, limit: 200))' is open to other users (mode \(String(bits, radix: 8))): anyone who reads it can use it; chmod 600 it"
    }

    /// What ``problem(_:writing:)`` says of a path that does not exist.
    public static let missing = "it does not exist"

    private static func lowercased(_ message: UnsafeMutablePointer<CChar>?) -> String {
        let text = message.map { String(cString: $0) } ?? "unknown error"
        return text.prefix(1).lowercased() + text.dropFirst()
    }
}
