import Foundation

/// A parser of the engine's JSON message stream: newline-delimited JSON objects.
///
/// Feed it the response body in whatever pieces the connection delivers; it splits the bytes
/// into lines and decodes each complete line with `JSONDecoder` as a ``DockerJSONMessage``, so
/// a message may be split across pieces and a piece may hold several. Whitespace around a
/// message and blank lines are skipped. A line that is not one JSON object, or longer than
/// ``maximumMessageSize``, is an error. ``finish()`` decodes a last line that ended without a
/// newline. Pure: no I/O, so it is tested byte split by byte split.
public struct DockerJSONMessageParser: Sendable {
    /// Why the stream could not be read.
    public struct ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// The largest single message accepted (progress and error objects are far smaller).
    public static let maximumMessageSize = 1 << 20

    /// The current line so far: bytes after the last newline.
    private var line: [UInt8] = []
    /// Bytes consumed before `line`, for error messages.
    private var lineOffset = 0

    public init() {}

    /// Consumes `bytes`; returns the messages of the lines they completed.
    public mutating func feed(_ bytes: some Collection<UInt8>) throws(ParseError) -> [DockerJSONMessage] {
        var messages: [DockerJSONMessage] = []
        var rest = bytes[...]
        while let newline = rest.firstIndex(of: UInt8(ascii: "\n")) {
            line += rest[..<newline]
            rest = rest[rest.index(after: newline)...]
            if let message = try decodeLine() { messages.append(message) }
            lineOffset += line.count + 1
            line.removeAll(keepingCapacity: true)
        }
        line += rest
        try checkSize()
        return messages
    }

    /// Ends the stream: returns the message of a last line that had no newline.
    @discardableResult
    public mutating func finish() throws(ParseError) -> [DockerJSONMessage] {
        defer {
            lineOffset += line.count
            line = []
        }
        return try decodeLine().map { [$0] } ?? []
    }

    private func checkSize() throws(ParseError) {
        guard line.count <= Self.maximumMessageSize else {
            throw ParseError(message: "a message is larger than \(Self.maximumMessageSize) bytes")
        }
    }

    /// The message on `line`, nil for a blank one.
    private func decodeLine() throws(ParseError) -> DockerJSONMessage? {
        try checkSize()
        let isSpace = { (byte: UInt8) in byte == 0x20 || byte == 0x09 || byte == 0x0d }
        guard let start = line.firstIndex(where: { !isSpace($0) }) else { return nil }
        guard line[start] == UInt8(ascii: "{") else {
            throw ParseError(
                message: "unexpected byte \(Self.describe(line[start])) at offset \(lineOffset + start), outside a JSON object")
        }
        do {
            return try JSONDecoder().decode(DockerJSONMessage.self, from: Data(line))
        } catch {
            throw ParseError(message: "a message is not valid JSON: \(Self.snippet(line[start...]))")
        }
    }

    private static func snippet(_ bytes: ArraySlice<UInt8>) -> String {
        let text = String(decoding: bytes.prefix(200), as: UTF8.self)
        return bytes.count > 200 ? text + "…" : text
    }

    private static func describe(_ byte: UInt8) -> String {
        (0x21...0x7e).contains(byte) ? "'\(Character(UnicodeScalar(byte)))'" : "0x\(String(byte, radix: 16))"
    }
}
