import Synchronization

/// Lets one log line of a kind through per interval and counts the rest, so that a lasting
/// fault (a full disk failing every request) is logged every 30 s with how often it recurred,
/// not on every request.
public final class LogThrottle: Sendable {
    private struct Kind {
        var last: ContinuousClock.Instant
        var suppressed: Int
    }

    private let interval: Duration
    private let kinds = Mutex<[String: Kind]>([:])

    /// `interval`: at most one line of a kind this often (default 30 s).
    public init(interval: Duration = .seconds(30)) {
        self.interval = interval
    }

    /// Whether a line of `kind` may be logged now: nil to stay silent (it is counted), else how
    /// many were kept silent since the last line of that kind.
    public func admit(_ kind: String, now: ContinuousClock.Instant = .now) -> Int? {
        kinds.withLock { kinds in
            if var seen = kinds[kind], now < seen.last + interval {
                seen.suppressed += 1
                kinds[kind] = seen
                return nil
            }
            let suppressed = kinds[kind]?.suppressed ?? 0
            kinds[kind] = Kind(last: now, suppressed: 0)
            return suppressed
        }
    }
}
