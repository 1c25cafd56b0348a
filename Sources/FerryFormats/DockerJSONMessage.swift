/// One object of the JSON message stream the Engine API sends for long-running calls
/// (`POST /images/load`, pull, push, build): moby's `pkg/jsonmessage.JSONMessage`.
///
/// The engine reports failures inside the stream, under HTTP 200, as
/// `{"errorDetail":{"message":"…"},"error":"…"}`; ``errorMessage`` is that text.
public struct DockerJSONMessage: Sendable, Hashable, Decodable {
    /// The `errorDetail` object.
    public struct ErrorDetail: Sendable, Hashable, Decodable {
        public var code: Int?
        public var message: String?

        public init(code: Int? = nil, message: String? = nil) {
            self.code = code
            self.message = message
        }
    }

    /// Output text, e.g. `"Loaded image: demo/app:1\n"`.
    public var stream: String?
    /// A progress status, e.g. `"Loading layer"`.
    public var status: String?
    /// The object a status is about (a short layer ID).
    public var id: String?
    /// A rendered progress bar.
    public var progress: String?
    /// The error text (deprecated by the engine in favour of `errorDetail`, still sent).
    public var error: String?
    public var errorDetail: ErrorDetail?
    /// Auxiliary data (e.g. `{"ID":"sha256:…"}` from builds), as generic JSON.
    public var aux: JSONValue?

    public init(
        stream: String? = nil, status: String? = nil, id: String? = nil, progress: String? = nil,
        error: String? = nil, errorDetail: ErrorDetail? = nil, aux: JSONValue? = nil
    ) {
        self.stream = stream
        self.status = status
        self.id = id
        self.progress = progress
        self.error = error
        self.errorDetail = errorDetail
        self.aux = aux
    }

    /// The failure this message reports, if any: `errorDetail.message`, else `error`.
    public var errorMessage: String? {
        if let message = errorDetail?.message, !message.isEmpty { return message }
        if let error, !error.isEmpty { return error }
        // An errorDetail without text is still a failure.
        return errorDetail != nil || error != nil ? "unknown error" : nil
    }
}

/// Any JSON value, for fields whose shape the engine does not fix.
public enum JSONValue: Sendable, Hashable, Decodable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    /// The value for `key` when this is an object.
    public subscript(key: String) -> JSONValue? {
        if case .object(let fields) = self { return fields[key] }
        return nil
    }

    /// The string, when this is a string.
    public var stringValue: String? {
        if case .string(let value) = self { return value }
        return nil
    }
}
