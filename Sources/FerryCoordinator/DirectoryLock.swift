#if canImport(Glibc)
import Glibc
#endif
import Synchronization

/// The `flock` a daemon holds on its data directory (``DataDirectory/lock()``). Released when the
/// daemon's run ends, so that the same process may open the directory again, and at the latest
/// when the lock is freed.
public final class DirectoryLock: Sendable {
    private let descriptor: Mutex<Int32?>

    init(descriptor: Int32) {
        self.descriptor = Mutex(descriptor)
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
