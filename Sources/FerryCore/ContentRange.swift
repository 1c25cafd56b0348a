/// A parsed `Content-Range: bytes START-END/TOTAL` (TOTAL may be `*`).
public struct ContentRange: Sendable, Hashable {
    public var start: Int64
    public var end: Int64
    public var total: Int64?

    public init?(header: String) {
        let text = header.trimmingWhitespace()
        guard text.hasPrefix("bytes ") else { return nil }
        let spec = text.dropFirst(6)
        let parts = spec.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return nil }
        // Keep empty pieces, or `-1-5` would read as `1-5`.
        let bounds = parts[0].split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard bounds.count == 2, let start = Int64(bounds[0]), let end = Int64(bounds[1]), start >= 0, end >= start else { return nil }
        self.start = start
        self.end = end
        if parts[1] == "*" {
            total = nil
        } else {
            guard let total = Int64(parts[1]), total > end else { return nil }
            self.total = total
        }
    }
}
