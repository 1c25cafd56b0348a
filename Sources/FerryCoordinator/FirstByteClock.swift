import Logging
import Synchronization

/// Times one blob download for its `blob fetched` log line: how long its first byte took (the
/// request's set-up: connection, TLS, token, redirect) and the whole download, from its start.
final class FirstByteClock: Sendable {
    private struct Times {
        var start = ContinuousClock.now
        var offset: Int64 = 0
        var firstByte: Duration?
    }

    private let times = Mutex(Times())

    /// A download (or a retry of it) starts now, at `offset` bytes held.
    func started(at offset: Int64) {
        times.withLock { $0 = Times(start: .now, offset: offset) }
    }

    /// The download holds `bytes` bytes now; the first call past the start's offset is the first byte.
    func progressed(to bytes: Int64) {
        times.withLock { times in
            if times.firstByte == nil, bytes > times.offset { times.firstByte = .now - times.start }
        }
    }

    /// `first_byte_ms` (absent when no byte came: the blob was whole already) and `duration_ms`.
    var metadata: Logger.Metadata {
        times.withLock { times in
            var metadata: Logger.Metadata = ["duration_ms": "\((.now - times.start).wholeMilliseconds)"]
            if let first = times.firstByte { metadata["first_byte_ms"] = "\(first.wholeMilliseconds)" }
            return metadata
        }
    }
}
