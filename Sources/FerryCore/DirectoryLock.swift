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
            throw FerryError(.busy, "another Ferry process is using the data directory '\(directory)'; stop it or choose another --data-dir")
        }
        return DirectoryLock(descriptor: fd)
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
