import FerryCore
import Testing

@Suite("ByteSize")
struct ByteSizeTests {
    static let sizes: [(String, Int64)] = [
        ("0", 0),
        ("512", 512),
        ("512B", 512),
        ("64k", 65_536),
        ("64K", 65_536),
        ("1KiB", 1024),
        ("10MiB", 10_485_760),
        ("10m", 10_485_760),
        ("2g", 2_147_483_648),
        ("1GiB", 1_073_741_824),
        ("1TiB", 1_099_511_627_776),
        ("1KB", 1000),
        ("1.5GB", 1_500_000_000),
        ("1.5 GiB", 1_610_612_736),
        ("  256 MiB  ", 268_435_456),
        ("0.5k", 512),
        ("3TB", 3_000_000_000_000),
    ]

    @Test("parses sizes", arguments: sizes)
    func parse(_ input: String, _ expected: Int64) throws {
        #expect(try ByteSize.parse(input) == expected)
    }

    @Test("rejects bad sizes", arguments: ["", "   ", "abc", "-5", "-5MiB", "1.2.3", ".", "10 XB", "1e3", "10MiB/s", "MiB", "inf", "nan", "99999999999T", "1 0"])
    func parseRejects(_ input: String) {
        do {
            let value = try ByteSize.parse(input)
            Issue.record("'\(input)' parsed as \(value)")
        } catch {
            #expect(error.code == .invalidArgument)
        }
    }

    static let rates: [(String, Int64)] = [
        ("10MiB/s", 10_485_760),
        ("10MiB", 10_485_760),
        ("1k/s", 1024),
        ("5/s", 5),
        ("5B/s", 5),
        ("100Mbit/s", 12_500_000),
        ("100mbit", 12_500_000),
        ("1Gbit/s", 125_000_000),
        ("8kbit/s", 1000),
        ("1.5 Mbit/s", 187_500),
        // Lowercase b is bits, as in every network spec sheet.
        ("100Mbps", 12_500_000),
        ("1Gbps", 125_000_000),
        ("64kbps", 8000),
        // Uppercase B is bytes.
        ("10MBps", 10_000_000),
        ("10MiBps", 10_485_760),
    ]

    @Test("parses rates in bytes per second", arguments: rates)
    func parseRate(_ input: String, _ expected: Int64) throws {
        #expect(try ByteSize.parseRate(input) == expected)
    }

    @Test("rejects bad rates; a bare number needs a unit", arguments: ["", "0", "0/s", "0Mbit/s", "-1Mbit/s", "fast", "Mbit/s", "10 parsecs", "5", "2.5"])
    func parseRateRejects(_ input: String) {
        do {
            let value = try ByteSize.parseRate(input)
            Issue.record("'\(input)' parsed as \(value)")
        } catch {
            #expect(error.code == .invalidArgument)
        }
    }

    static let formats: [(Int64, String)] = [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (10_485_760, "10.0 MiB"),
        (1_073_741_824, "1.0 GiB"),
        (5 * 1_099_511_627_776, "5.0 TiB"),
        (2048 * 1_099_511_627_776, "2048.0 TiB"),
    ]

    @Test("formats with binary units", arguments: formats)
    func format(_ bytes: Int64, _ expected: String) {
        #expect(ByteSize.format(bytes) == expected)
    }
}
