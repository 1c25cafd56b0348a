/// A state sent on the wire and stored as its raw string (image, blob, install and target
/// states). Decoding a value this version does not know fails with a message that names the values
/// it knows, instead of a bare "cannot initialize" error.
public protocol WireState: RawRepresentable, Codable, CaseIterable where RawValue == String {}

extension WireState {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let raw = try container.decode(String.self)
        guard let value = Self(rawValue: raw) else {
            throw DecodingError.dataCorruptedError(
                in: container,
                debugDescription:
                    "unknown \(Self.self) '\(raw.prefix(40))' (this ferry knows \(Self.allCases.map(\.rawValue).joined(separator: ", ")); is the other side a newer version?)"
            )
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
