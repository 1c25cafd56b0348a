import FerryCore
import Foundation
import Logging

/// A swift-log handler for log shippers: one JSON object per line, with `time` (RFC 3339, UTC),
/// `level`, `label`, `message`, `source` and the metadata as strings under `metadata`.
public struct JSONLogHandler: LogHandler {
    public var logLevel: Logger.Level = .info
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    let label: String
    let write: @Sendable (String) -> Void

    /// A handler for `label` that hands each line (with its newline) to `write`.
    public init(label: String, metadataProvider: Logger.MetadataProvider? = nil, write: @escaping @Sendable (String) -> Void) {
        self.label = label
        self.metadataProvider = metadataProvider
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided, uniquingKeysWith: { _, new in new }) }
        if let extra = event.metadata { merged.merge(extra, uniquingKeysWith: { _, new in new }) }
        write(Self.line(
            time: Date(), level: event.level, label: label, message: "\(event.message)", source: event.source, metadata: merged))
    }

    /// One log line: a JSON object and a newline.
    static func line(
        time: Date, level: Logger.Level, label: String, message: String, source: String, metadata: Logger.Metadata
    ) -> String {
        var fields = [
            "\"time\":\(quoted(Date.ISO8601FormatStyle(includingFractionalSeconds: true).format(time)))",
            "\"level\":\(quoted(level.rawValue))",
            "\"label\":\(quoted(label))",
            "\"message\":\(quoted(message))",
            "\"source\":\(quoted(source))",
        ]
        if !metadata.isEmpty {
            let pairs = metadata.sorted(by: { $0.key < $1.key }).map { "\(quoted($0.key)):\(json($0.value))" }
            fields.append("\"metadata\":{\(pairs.joined(separator: ","))}")
        }
        return "{" + fields.joined(separator: ",") + "}\n"
    }

    static func json(_ value: Logger.Metadata.Value) -> String {
        switch value {
        case .string(let text): quoted(text)
        case .stringConvertible(let value): quoted(value.description)
        case .array(let items): "[" + items.map(json).joined(separator: ",") + "]"
        case .dictionary(let entries):
            "{" + entries.sorted(by: { $0.key < $1.key }).map { "\(quoted($0.key)):\(json($0.value))" }.joined(separator: ",") + "}"
        }
    }

    /// A JSON string literal.
    static func quoted(_ text: String) -> String { QuotedString.literal(text) }
}
