import FerryCore
import HTTPTypes

/// The status, headers and byte range of a `/v2/` blob response (GET or HEAD), from the blob's
/// digest and size and the request's `Range` header: what the leader's, a follower's and the
/// proxy's registry APIs answer alike.
public struct BlobResponseHead: Sendable {
    public var status: HTTPResponse.Status
    public var headers: HTTPFields
    /// The bytes of the blob the body carries.
    public var range: Range<Int64>

    /// The headers of a `304 Not Modified` when `ifNoneMatch` names the content's ETag
    /// (`"<digest>"`; content addressed by digest never changes) or is `*`, else nil.
    /// `byTag`: a manifest asked by tag, whose 304 says what its 200 would (``varyByTag(_:)``).
    public static func notModified(_ digest: Digest, ifNoneMatch: String?, byTag: Bool = false) -> HTTPFields? {
        guard let ifNoneMatch, ifNoneMatch.contains(digest.description) || ifNoneMatch.filter({ $0 != " " }) == "*" else {
            return nil
        }
        var headers = HTTPFields()
        headers[.dockerContentDigest] = digest.description
        headers[.eTag] = "\"\(digest)\""
        headers[.dockerDistributionAPIVersion] = "registry/2.0"
        if byTag { varyByTag(&headers) }
        return headers
    }

    /// `Vary: Accept`, on a manifest asked by tag: its answer depends on `Accept`
    /// (``ManifestNegotiation``), so an HTTP cache between a client and this server keys on it
    /// (RFC 9110 §12.5.5). Content asked by digest is one representation and says nothing.
    public static func varyByTag(_ headers: inout HTTPFields) {
        headers[.vary] = "Accept"
    }

    /// Nil when the `Range` header cannot be satisfied for a blob of `size` bytes.
    public init?(digest: Digest, size: Int64, rangeHeader: String?) {
        var headers = HTTPFields()
        headers[.contentType] = "application/octet-stream"
        headers[.dockerContentDigest] = digest.description
        headers[.eTag] = "\"\(digest)\""
        headers[.acceptRanges] = "bytes"
        headers[.dockerDistributionAPIVersion] = "registry/2.0"
        switch ByteRange.resolve(rangeHeader, size: size) {
        case .full:
            status = .ok
            range = 0..<size
        case .partial(let requested):
            status = .partialContent
            range = requested
            headers[.contentRange] = "bytes \(requested.lowerBound)-\(requested.upperBound - 1)/\(size)"
        case .unsatisfiable:
            return nil
        }
        headers[.contentLength] = String(range.upperBound - range.lowerBound)
        self.headers = headers
    }
}
