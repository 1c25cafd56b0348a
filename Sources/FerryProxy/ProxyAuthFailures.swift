import Logging
import Metrics
import Synchronization

/// Credentials the proxy refused, so that a vendor sees guessing or a leaked, revoked licence
/// still in use: each is counted by reason (`ferry_proxy_auth_failures_total{reason}`: unknown
/// licence, invalid or expired token, unsupported scheme, revoked or expired licence), and
/// logged at most once per ``interval`` with how many were refused since, so that a flood of
/// attempts is not a flood of log lines. What was presented is never logged.
final class ProxyAuthFailures: Sendable {
    /// The shortest time between two log lines. Default 10 s.
    let interval: Duration
    private let logger: Logger
    private let state = Mutex<(lastLogged: ContinuousClock.Instant?, unlogged: Int)>((nil, 0))

    init(logger: Logger, interval: Duration = .seconds(10)) {
        self.logger = logger
        self.interval = interval
    }

    func record(_ refusal: ProxyError.Refusal, client: String?) {
        Counter(label: "ferry_proxy_auth_failures_total", dimensions: [("reason", refusal.reason)]).increment()
        let now = ContinuousClock.now
        let unlogged: Int? = state.withLock { state in
            if let last = state.lastLogged, now - last < interval {
                state.unlogged += 1
                return nil
            }
            defer { state = (now, 0) }
            return state.unlogged
        }
        guard let unlogged else { return }
        var metadata: Logger.Metadata = ["reason": "\(refusal.reason)", "client": "\(client ?? "unknown")"]
        if let licence = refusal.licence { metadata["licence"] = "\(licence)" }
        if unlogged > 0 { metadata["refused_before_unlogged"] = "\(unlogged)" }
        logger.notice("refused credentials", metadata: metadata)
    }
}
