/// A value that travels as its description and is read back by parsing it: Codable as that
/// string, and a string that does not parse fails to decode with the parser's own message
/// (digests, image references).
public protocol StringCodable: Codable, CustomStringConvertible {
    init(parsingDescription text: String) throws(FerryError)
}

extension StringCodable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let string = try container.decode(String.self)
        do {
            try self.init(parsingDescription: string)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.message)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}
