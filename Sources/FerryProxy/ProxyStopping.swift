import FerryCore
import Synchronization

/// A stopping proxy's cut of its blob streams: once ``cut()`` (``ProxyServer/shutdownGrace``
/// after SIGTERM), every stream still running is refused (`503`) by its ``LicenceWatch`` as a
/// revoked licence's is, within a patrol interval: it ends through its own error path, audited,
/// while the database is still open (it closes after the server has finished its requests).
final class ProxyStopping: Sendable {
    private let isCut = Mutex(false)

    init() {}

    func cut() { isCut.withLock { $0 = true } }

    /// The refusal of a stream once cut.
    var refusal: ProxyError? {
        guard isCut.withLock({ $0 }) else { return nil }
        return ProxyError(FerryError(.busy, "the proxy is stopping: pull again (a download resumes where it stopped)"))
    }
}
