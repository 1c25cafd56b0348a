import FerryCore
import FerryDocker
import FerryFormats
import NIOCore
import Testing

@Suite("DockerJSONMessageParser and DockerLoadReport")
struct DockerJSONMessageParserTests {
    static let stream = Array(
        """
        {"stream":"Loaded image: demo/app:1\\n"}\r
          {"status":"Loading layer","progressDetail":{"current":512,"total":1024},"progress":"[=>  ]","id":"f2c02bbd8a65"}
        {"errorDetail":{"code":1,"message":"boom \\"quoted\\" {brace} [bracket] \\\\"},"error":"boom"}
        {"aux":{"ID":"sha256:abc","n":[1,2,{"x":null}]}}

        {"stream":"Loaded image ID: sha256:0123\\n"}\t
        """.utf8)

    static let expected: [DockerJSONMessage] = [
        DockerJSONMessage(stream: "Loaded image: demo/app:1\n"),
        DockerJSONMessage(status: "Loading layer", id: "f2c02bbd8a65", progress: "[=>  ]"),
        DockerJSONMessage(error: "boom", errorDetail: .init(code: 1, message: #"boom "quoted" {brace} [bracket] \"#)),
        DockerJSONMessage(aux: .object(["ID": .string("sha256:abc"), "n": .array([.number(1), .number(2), .object(["x": .null])])])),
        DockerJSONMessage(stream: "Loaded image ID: sha256:0123\n"),
    ]

    static func parse(_ pieces: [ArraySlice<UInt8>]) throws -> [DockerJSONMessage] {
        var parser = DockerJSONMessageParser()
        var messages: [DockerJSONMessage] = []
        for piece in pieces { messages += try parser.feed(ByteBuffer(bytes: piece).readableBytesView) }
        messages += try parser.finish()
        return messages
    }

    @Test("the same messages come out whatever the split, at every byte position")
    func everySplit() throws {
        let bytes = Self.stream
        #expect(try Self.parse([bytes[...]]) == Self.expected)
        for split in 0...bytes.count {
            #expect(try Self.parse([bytes[..<split], bytes[split...]]) == Self.expected, "split at \(split)")
        }
        for first in stride(from: 0, through: bytes.count, by: 7) {
            for second in stride(from: first, through: bytes.count, by: 11) {
                #expect(try Self.parse([bytes[..<first], bytes[first..<second], bytes[second...]]) == Self.expected)
            }
        }
        #expect(try Self.parse(bytes.indices.map { bytes[$0...$0] }) == Self.expected)
    }

    @Test("garbage, invalid JSON, two objects on one line, an oversized or unfinished message are errors")
    func badInput() throws {
        for bad in [
            "<html>502</html>", #"{"stream":"ok"} x"#, #"{"stream": nope}"#, "]", #"{"error":"no"}}"#, #"{"stream":"a"}{"stream":"b"}"#,
            "{\"stream\":\"a\"}\n<html>\n",
        ] {
            #expect(throws: DockerJSONMessageParser.ParseError.self, "\(bad)") { _ = try Self.parse([Array(bad.utf8)[...]]) }
        }
        #expect(throws: DockerJSONMessageParser.ParseError.self) { _ = try Self.parse([Array(#"{"stream":"cut"#.utf8)[...]]) }
        let huge = Array(#"{"stream":""#.utf8) + [UInt8](repeating: 0x61, count: DockerJSONMessageParser.maximumMessageSize) + Array(#""}"#.utf8)
        #expect(throws: DockerJSONMessageParser.ParseError.self) { _ = try Self.parse([huge[...]]) }
        // A line is refused as soon as it outgrows the limit, not buffered until its newline.
        var parser = DockerJSONMessageParser()
        #expect(throws: DockerJSONMessageParser.ParseError.self) { _ = try parser.feed(huge.dropLast(2)) }
        #expect(try Self.parse([Array(" \n\r\t".utf8)[...]]).isEmpty)
    }

    /// The messages, or the error's text, for `pieces` fed in order.
    static func outcome(_ pieces: [ArraySlice<UInt8>]) -> String {
        do {
            return "\(try parse(pieces))"
        } catch {
            return "error: \(error)"
        }
    }

    @Test("a bad stream fails with the same error whatever the split (as the fuzz target checks)")
    func errorsIndependentOfSplit() throws {
        let long = "{\"stream\":\"" + String(repeating: "a", count: DockerJSONMessageParser.maximumMessageSize) + "\"}"
        for text in [
            "{\"status\":\"x\"}\n x {\"status\":\"y\"}\n", "{\"a\":1}\r\n\r\n<html>\n{\"b\":2}", "{\"stream\":\"}{ \\\" ] [\"}\n{\"a\":[}]\n",
            "{\"status\":\"Loading\"}\n{\"status\":\"cut", "\n\n" + long + "\n", "x" + long,
        ] {
            let bytes = Array(text.utf8)
            let whole = Self.outcome([bytes[...]])
            #expect(whole.hasPrefix("error: "), "\(text.prefix(40)): \(whole.prefix(200))")
            for split in stride(from: 0, through: bytes.count, by: max(1, bytes.count / 64)) {
                #expect(Self.outcome([bytes[..<split], bytes[split...]]) == whole, "\(text.prefix(40)) split at \(split)")
            }
        }
    }

    @Test("errorMessage prefers errorDetail.message, then error; an empty detail still fails")
    func errorMessage() {
        #expect(DockerJSONMessage(error: "short", errorDetail: .init(message: "long")).errorMessage == "long")
        #expect(DockerJSONMessage(error: "short").errorMessage == "short")
        #expect(DockerJSONMessage(errorDetail: .init()).errorMessage == "unknown error")
        #expect(DockerJSONMessage(stream: "Loaded image: a:1\n").errorMessage == nil)
    }

    @Test("a load succeeds only with a Loaded image line and no error line, whatever the HTTP status said")
    func loadReport() throws {
        var ok = DockerLoadReport()
        for message in Self.expected where message.errorMessage == nil { ok.add(message) }
        #expect(try ok.result() == ["demo/app:1", "sha256:0123"])

        // An error line under HTTP 200, even after a Loaded line.
        var failed = DockerLoadReport()
        for message in Self.expected { failed.add(message) }
        let error = #expect(throws: FerryError.self) { try failed.result() }
        #expect(error?.code == .dockerLoadFailed)
        #expect(error?.message == #"docker load failed: boom "quoted" {brace} [bracket] \"#)

        var silent = DockerLoadReport()
        silent.add(DockerJSONMessage(status: "Loading layer"))
        let nothing = #expect(throws: FerryError.self) { try silent.result() }
        #expect(nothing?.message.contains("no 'Loaded image' line") == true)
    }
}
