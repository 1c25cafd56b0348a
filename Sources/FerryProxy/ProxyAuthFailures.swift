import Logging
import Metrics
import Synchronization

/// Credentials the proxy refused, so that a vendor sees guessing or a leaked, revoked licence
/// still in use: each is counted by reason (`ferry_proxy_auth_failures_total{reason}`: unknown
/// licence, invalid or expired token, unsupported scheme, revoked or expired licence), and
/// logged at most once per ``interval`` for each reason and licence, with how many were refused
/// since, so that a flood of attempts is not a flood of log lines and does not hide a revoked
/// licence in use. What was presented is never logged.
final class ProxyAuthFailures: Sendable {
    /// The shortest time between two log lines of one reason and licence. Default 10 s.
    let interval: Duration
    /// Reasons and licences remembered at once; past it, old ones are forgotten.
    static let remembered = 1024
    private let logger: Logger
    private struct Entry {
        var lastLogged: ContinuousClock.Instant
        var unlogged: Int
    }
    private let state = Mutex<[String: Entry]>([:])

    init(logger: Logger, interval: Duration = .seconds(10)) {
        self.logger = logger
        self.interval = interval
    }

    func record(_ refusal: ProxyError.Refusal, client: String?) {
        Counter(label: "ferry_proxy_auth_failures_total", dimensions: [("reason", refusal.reason)]).increment()
        let now = ContinuousClock.now
        let key = "\(refusal.reason) \(refusal.licence.map(String.init) ?? "-")"
        let unlogged: Int? = state.withLock { entries in
            if let entry = entries[key], now - entry.lastLogged < interval {
                entries[key]?.unlogged += 1
                return nil
            }
            if entries[key] == nil, entries.count >= Self.remembered {
                entries = entries.filter { now - $0.value.lastLogged < interval }
            }
            let before = entries[key]?.unlogged ?? 0
            if entries[key] != nil || entries.count < Self.remembered { entries[key] = Entry(lastLogged: now, unlogged: 0) }
            return before
        }
        guard let unlogged else { return }
        var metadata: Logger.Metadata = ["reason": "\(refusal.reason)", "client": "\(client ?? "unknown")"]
        if let licence = refusal.licence { metadata["licence"] = "\(licence)" }
        if unlogged > 0 { metadata["refused_before_unlogged"] = "\(unlogged)" }
        logger.notice("refused credentials", metadata: metadata)
    }
}
