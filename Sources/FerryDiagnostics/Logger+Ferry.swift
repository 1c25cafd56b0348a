import Logging

extension Logger {
    /// A logger that discards everything, for callers that pass none.
    public static let disabled = Logger(label: "ferry.disabled", factory: { _ in SwiftLogNoOpLogHandler() })
}
