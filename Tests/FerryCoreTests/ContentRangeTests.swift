import FerryCore
import Testing

@Suite("ContentRange")
struct ContentRangeTests {
    static let valid: [(String, Int64, Int64, Int64?)] = [
        ("bytes 0-99/100", 0, 99, 100),
        ("bytes 10-19/116", 10, 19, 116),
        ("bytes 5-5/6", 5, 5, 6),
        ("bytes 10-19/*", 10, 19, nil),
        ("  bytes 0-0/1  ", 0, 0, 1),
    ]

    @Test(arguments: valid)
    func parses(_ header: String, _ start: Int64, _ end: Int64, _ total: Int64?) throws {
        let range = try #require(ContentRange(header: header))
        #expect(range.start == start)
        #expect(range.end == end)
        #expect(range.total == total)
    }

    static let invalid: [String] = [
        "", "bytes", "bytes */100", "bytes 5-4/100", "bytes 0-100/100", "bytes 0-99/99", "bytes -1-5/10", "bytes 0-1", "bytes=0-1/2",
        "items 0-1/2", "bytes 0-1/abc", "bytes 1-2/-5", "bytes a-b/10", "bytes 0-/10", "bytes -5/10", "bytes 0-99999999999999999999/*",
    ]

    @Test(arguments: invalid)
    func rejects(_ header: String) {
        #expect(ContentRange(header: header) == nil)
    }
}
