import Foundation
import NIOCore

/// An incremental parser of the engine's JSON message stream.
///
/// Feed it the response body in whatever pieces the connection delivers; it yields each
/// complete top-level object as a ``DockerJSONMessage``. Whitespace and newlines between
/// objects are skipped. Anything else outside an object, an object that is not valid JSON, or
/// an object above ``maximumMessageSize`` is an error, as is a stream that ends inside an
/// object (``finish()``). Pure: no I/O, so it is tested byte split by byte split.
public struct DockerJSONMessageParser: Sendable {
    /// Why the stream could not be read.
    public struct ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// The largest single message accepted (progress and error objects are far smaller).
    public static let maximumMessageSize = 1 << 20

    private var current: [UInt8] = []
    private var depth = 0
    private var inString = false
    private var escaped = false
    /// Bytes consumed so far, for error messages.
    private var offset = 0

    public init() {}

    /// Consumes `buffer`; returns the messages it completed.
    public mutating func feed(_ buffer: ByteBuffer) throws(ParseError) -> [DockerJSONMessage] {
        try feed(buffer.readableBytesView)
    }

    /// Consumes `bytes`; returns the messages they completed.
    public mutating func feed(_ bytes: some Collection<UInt8>) throws(ParseError) -> [DockerJSONMessage] {
        var messages: [DockerJSONMessage] = []
        for byte in bytes {
            defer { offset += 1 }
            if depth == 0 {
                switch byte {
                case 0x20, 0x09, 0x0a, 0x0d:
                    continue
                case UInt8(ascii: "{"):
                    depth = 1
                    current = [byte]
                default:
                    throw ParseError(message: "unexpected byte \(Self.describe(byte)) at offset \(offset), outside a JSON object")
                }
                continue
            }
            current.append(byte)
            guard current.count <= Self.maximumMessageSize else {
                throw ParseError(message: "a message is larger than \(Self.maximumMessageSize) bytes")
            }
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""):
                inString = true
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                depth += 1
            case UInt8(ascii: "}"), UInt8(ascii: "]"):
                depth -= 1
                if depth == 0 {
                    messages.append(try Self.decode(current))
                    current = []
                }
            default:
                break
            }
        }
        return messages
    }

    /// Checks that the stream did not end inside an object.
    public func finish() throws(ParseError) {
        guard depth == 0 else {
            throw ParseError(message: "the stream ended inside a message: \(Self.snippet(current))")
        }
    }

    private static func decode(_ bytes: [UInt8]) throws(ParseError) -> DockerJSONMessage {
        do {
            return try JSONDecoder().decode(DockerJSONMessage.self, from: Data(bytes))
        } catch {
            throw ParseError(message: "a message is not valid JSON: \(snippet(bytes))")
        }
    }

    private static func snippet(_ bytes: [UInt8]) -> String {
        let text = String(decoding: bytes.prefix(200), as: UTF8.self)
        return bytes.count > 200 ? text + "…" : text
    }

    private static func describe(_ byte: UInt8) -> String {
        (0x21...0x7e).contains(byte) ? "'\(Character(UnicodeScalar(byte)))'" : "0x\(String(byte, radix: 16))"
    }
}
