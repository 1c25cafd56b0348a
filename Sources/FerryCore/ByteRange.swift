/// A single byte range from an HTTP `Range` header (RFC 9110 §14.1.2), resolved against a
/// representation of known size.
public enum ByteRange {
    public enum Outcome: Sendable, Hashable {
        /// No usable `Range` (absent, not `bytes=`, several ranges): send everything with 200.
        case full
        /// Send this half-open range with 206.
        case partial(Range<Int64>)
        /// 416, with `Content-Range: bytes */size`.
        case unsatisfiable
    }

    /// Resolves `bytes=a-b`, `bytes=a-` and `bytes=-n` against `size`; `b < a` is unsatisfiable.
    public static func resolve(_ header: String?, size: Int64) -> Outcome {
        guard let header else { return .full }
        let text = header.trimmingWhitespace()
        guard text.lowercased().hasPrefix("bytes=") else { return .full }
        let spec = text.dropFirst(6).trimmingWhitespace()
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return .full }
        let first = spec[..<dash].trimmingWhitespace()
        let last = spec[spec.index(after: dash)...].trimmingWhitespace()
        func number(_ s: String) -> Int64? {
            guard !s.isEmpty, s.count <= 19, s.allSatisfy(\.isASCII), s.allSatisfy(\.isNumber) else { return nil }
            return Int64(s)
        }
        if first.isEmpty {
            guard let suffix = number(last) else { return .full }
            guard suffix > 0, size > 0 else { return .unsatisfiable }
            return .partial(max(size - suffix, 0)..<size)
        }
        guard let start = number(first) else { return .full }
        let end: Int64
        if last.isEmpty {
            end = size - 1
        } else {
            guard let value = number(last) else { return .full }
            // `bytes=500-0`: 416, as the CNCF registry answers and the OCI conformance suite expects.
            guard value >= start else { return .unsatisfiable }
            end = min(value, size - 1)
        }
        guard start < size else { return .unsatisfiable }
        return .partial(start..<(end + 1))
    }
}
