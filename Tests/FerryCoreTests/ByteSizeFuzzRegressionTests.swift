import FerryCore
import Testing

/// Inputs the `byte-size` fuzz target (Fuzz/Targets/byte-size) found; see docs/fuzzing.md.
@Suite("ByteSize fuzz regressions")
struct ByteSizeFuzzRegressionTests {
    /// A bit rate at or above 2^63 bytes/s (or infinite) trapped converting Double to Int64.
    @Test(arguments: ["1" + String(repeating: "5", count: 50) + "gbit/s", "000000900000090000000mbit", "infkbit", "1e300Gbps"])
    func hugeBitRatesAreRejected(_ input: String) {
        #expect(throws: FerryError.self) { try ByteSize.parseRate(input) }
    }

    /// A bit rate below 1 byte/s truncated to 0, which `RateLimiter` refuses with a precondition
    /// (so `--max-upload-rate 7e-7mbit` stopped the leader with a trap).
    @Test(arguments: ["7e-7mbit", "0.007kbit/s", "1e-300gbit"])
    func bitRatesBelowOneBytePerSecondAreRejected(_ input: String) {
        #expect(throws: FerryError.self) { try ByteSize.parseRate(input) }
    }

    @Test func theSmallestBitRateIsOneBytePerSecond() throws {
        #expect(try ByteSize.parseRate("0.008kbit") == 1)
    }
}
