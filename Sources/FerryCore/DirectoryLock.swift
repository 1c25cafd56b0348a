#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The `flock` a daemon holds on its data directory (``acquire(in:)``). Released when the
/// daemon's run ends, so that the same process may open the directory again, and at the latest
/// when the lock is freed.
public final class DirectoryLock: Sendable {
    private let descriptor: Mutex<Int32?>

    init(descriptor: Int32) {
        self.descriptor = Mutex(descriptor)
    }

    /// Takes an exclusive `flock` on `DIRECTORY/lock` until the returned lock is released (or
    /// freed). Fails at once, with a clear message, when another process holds it.
    public static func acquire(in directory: String) throws(FerryError) -> DirectoryLock {
        let fd = open("\(directory)/lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw FerryError(.configuration, "cannot open '\(directory)/lock': \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw busy(directory)
        }
        return DirectoryLock(descriptor: fd)
    }

    /// Whether another process holds the lock of `directory` now (nothing is created; a
    /// directory without a lock file is not held).
    public static func isHeld(in directory: String) -> Bool {
        let fd = open("\(directory)/lock", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK
    }

    /// The error ``acquire(in:)`` throws when another process holds the lock.
    public static func busy(_ directory: String) -> FerryError {
        FerryError(.busy, "another Ferry process is using the data directory '\(directory)'; stop it or choose another --data-dir")
    }

    /// Closes the descriptor, which drops the lock. Later calls do nothing.
    public func release() {
        descriptor.withLock { fd in
            if let open = fd { close(open) }
            fd = nil
        }
    }

    deinit {
        release()
    }
}
