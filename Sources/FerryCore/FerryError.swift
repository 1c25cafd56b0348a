/// An error Ferry reports to an operator: a stable machine-readable ``Code`` and a one-line
/// human message that says what went wrong and, where it can, what to do about it.
///
/// Messages never contain credentials or tokens.
public struct FerryError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A stable identifier for a class of failure. Codes that mirror the OCI distribution
    /// error codes use the same spelling, so they can be sent on the wire unchanged.
    public struct Code: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible {
        public var rawValue: String
        public init(rawValue: String) { self.rawValue = rawValue }
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        public static let invalidReference = Code("NAME_INVALID")
        public static let invalidDigest = Code("DIGEST_INVALID")
        public static let invalidArgument = Code("INVALID_ARGUMENT")
        public static let manifestInvalid = Code("MANIFEST_INVALID")
        public static let manifestUnknown = Code("MANIFEST_UNKNOWN")
        public static let manifestTooLarge = Code("MANIFEST_TOO_LARGE")
        public static let unsupportedManifest = Code("UNSUPPORTED_MANIFEST")
        public static let blobUnknown = Code("BLOB_UNKNOWN")
        public static let nameUnknown = Code("NAME_UNKNOWN")
        public static let noMatchingPlatform = Code("NO_MATCHING_PLATFORM")
        public static let unauthorized = Code("UNAUTHORIZED")
        public static let denied = Code("DENIED")
        public static let tooManyRequests = Code("TOOMANYREQUESTS")
        public static let rangeNotSatisfiable = Code("RANGE_INVALID")
        public static let upstreamUnreachable = Code("UPSTREAM_UNREACHABLE")
        public static let upstreamError = Code("UPSTREAM_ERROR")
        public static let digestMismatch = Code("DIGEST_MISMATCH")
        public static let sizeMismatch = Code("SIZE_INVALID")
        public static let insufficientSpace = Code("INSUFFICIENT_SPACE")
        public static let storeCorrupt = Code("STORE_CORRUPT")
        public static let busy = Code("BUSY")
        public static let notFound = Code("NOT_FOUND")
        public static let configuration = Code("CONFIGURATION")
        public static let unsupported = Code("UNSUPPORTED")
        public static let dockerUnreachable = Code("DOCKER_UNREACHABLE")
        public static let dockerLoadFailed = Code("DOCKER_LOAD_FAILED")
        public static let nodeUnknown = Code("NODE_UNKNOWN")
        public static let notReached = Code("NOT_REACHED")
        public static let conflict = Code("CONFLICT")
        /// A node speaks a mesh protocol version the leader does not accept.
        public static let protocolVersion = Code("PROTOCOL_VERSION")
        public static let `internal` = Code("UNKNOWN")
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    /// Whether a retry of the same operation may succeed: network trouble, a server error or an
    /// answer that could not be used, throttling, a busy resource, bytes that failed verification
    /// (a flaky link or a bad source). Refusals (authentication, not found, invalid input, no
    /// space, configuration) are not. The one definition of "transient" in Ferry: transfers
    /// classify other errors with `FerryTransfer.FailureClass`.
    public var isTransient: Bool {
        switch code {
        case .upstreamUnreachable, .upstreamError, .tooManyRequests, .digestMismatch, .sizeMismatch, .busy: true
        default: false
        }
    }
}
