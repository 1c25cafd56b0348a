import Logging
import Synchronization

/// A log handler that keeps every record as text (message and metadata), for tests that check
/// what is logged, or that nothing secret is.
public final class CapturingLogHandler: LogHandler, @unchecked Sendable {
    public let records = Mutex<[String]>([])
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .trace

    public init() {}

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { $1 }
        records.withLock { $0.append("\(event.message) \(merged)") }
    }
}
