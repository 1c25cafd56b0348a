import FerryCore
import Testing

@Suite("ByteRange")
struct ByteRangeTests {
    static let cases: [(String?, Int64, ByteRange.Outcome)] = [
        (nil, 100, .full),
        ("bytes=10-19", 100, .partial(10..<20)),
        ("bytes=0-0", 100, .partial(0..<1)),
        ("bytes=0-99", 100, .partial(0..<100)),
        ("bytes=0-999", 100, .partial(0..<100)),
        ("bytes=99-", 100, .partial(99..<100)),
        ("bytes=10-", 100, .partial(10..<100)),
        ("bytes=-10", 100, .partial(90..<100)),
        ("bytes=-100", 100, .partial(0..<100)),
        ("bytes=-500", 100, .partial(0..<100)),
        ("BYTES=1-2", 100, .partial(1..<3)),
        (" bytes= 5 - 6 ", 100, .partial(5..<7)),
        ("bytes=100-", 100, .unsatisfiable),
        ("bytes=100-200", 100, .unsatisfiable),
        ("bytes=-0", 100, .unsatisfiable),
        ("bytes=0-", 0, .unsatisfiable),
        ("bytes=-5", 0, .unsatisfiable),
        // Several ranges: Ferry answers the whole representation with 200, as RFC 9110 allows.
        ("bytes=0-1,5-6", 100, .full),
        ("bytes=0-1, -5", 100, .full),
        // Not a byte range or not parseable: ignore the header.
        ("items=0-1", 100, .full),
        ("bytes=", 100, .full),
        ("bytes=-", 100, .full),
        ("bytes=abc", 100, .full),
        ("bytes=a-b", 100, .full),
        ("bytes=5-2", 100, .unsatisfiable),  // as the CNCF registry and the OCI conformance suite
        ("bytes=+5-10", 100, .full),
        ("bytes=1-x", 100, .full),
        ("bytes=99999999999999999999-", 100, .full),
        ("garbage", 100, .full),
        ("", 100, .full),
    ]

    @Test("resolves Range headers against a size", arguments: cases)
    func resolve(_ header: String?, _ size: Int64, _ expected: ByteRange.Outcome) {
        #expect(ByteRange.resolve(header, size: size) == expected)
    }

    @Test func partialRangesNeverLeaveTheRepresentation() {
        for header in ["bytes=0-", "bytes=-1", "bytes=3-1000", "bytes=-1000", "bytes=7-7"] {
            for size: Int64 in [1, 8, 100] {
                if case .partial(let range) = ByteRange.resolve(header, size: size) {
                    #expect(range.lowerBound >= 0 && range.upperBound <= size && !range.isEmpty, "\(header) size \(size) → \(range)")
                }
            }
        }
    }
}
