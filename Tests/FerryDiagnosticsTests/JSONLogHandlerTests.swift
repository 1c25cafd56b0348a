import Foundation
import Logging
import Synchronization
import Testing

@testable import FerryDiagnostics

@Suite("JSON log lines")
struct JSONLogHandlerTests {
    @Test func eachEventIsOneJSONObjectWithItsMetadata() throws {
        let lines = Mutex<[String]>([])
        var handler = JSONLogHandler(label: "ferry.test") { line in lines.withLock { $0.append(line) } }
        handler.logLevel = .debug
        handler[metadataKey: "node"] = "n1"
        let configured = handler
        let logger = Logger(label: "ferry.test", factory: { _ in configured })
        logger.info("fetched \"app\"\nline two", metadata: ["digest": "sha256:ab", "count": "\(3)", "list": ["a", "b"]])
        logger.trace("not shown")
        let written = lines.withLock { $0 }
        #expect(written.count == 1)
        let line = try #require(written.first)
        #expect(line.hasSuffix("}\n"))
        #expect(line.dropLast().contains("\n") == false)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        #expect(object["level"] as? String == "info")
        #expect(object["label"] as? String == "ferry.test")
        #expect(object["message"] as? String == "fetched \"app\"\nline two")
        let metadata = try #require(object["metadata"] as? [String: Any])
        #expect(metadata["node"] as? String == "n1")
        #expect(metadata["digest"] as? String == "sha256:ab")
        #expect(metadata["list"] as? [String] == ["a", "b"])
        #expect((object["time"] as? String)?.hasSuffix("Z") == true)
    }

    @Test func controlCharactersAreEscaped() {
        #expect(JSONLogHandler.quoted("a\u{1}b\\") == "\"a\\u0001b\\\\\"")
    }
}
