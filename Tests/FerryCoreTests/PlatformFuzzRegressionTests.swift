import FerryCore
import Testing

/// Inputs the `platform` fuzz target (Fuzz/Targets/platform) found; see docs/fuzzing.md.
@Suite("Platform fuzz regressions")
struct PlatformFuzzRegressionTests {
    /// A huge arm64 minor (or amd64 level) made the matcher list every lower level: a hang, then
    /// out of memory, in index selection for a follower that joined with such a platform.
    @Test(.timeLimit(.minutes(1)), arguments: ["linux/arm64/v8.1111111111111114", "linux/amd64/v9223372036854775807"])
    func hugeVariantLevelsKeepTheMatcherSmall(_ input: String) throws {
        let platform = try Platform(parsing: input)
        let matcher = PlatformMatcher(platform)
        #expect(matcher.rank(platform) == 0)
        let baseline = Platform(os: "linux", architecture: platform.architecture)
        #expect(matcher.rank(baseline) != nil)
    }

    @Test func realFallbacksAreUnchanged() throws {
        let arm64 = PlatformMatcher(try Platform(parsing: "linux/arm64/v8.2"))
        #expect(arm64.rank(Platform(os: "linux", architecture: "arm64", variant: "v8.1")) == 1)
        #expect(arm64.rank(Platform(os: "linux", architecture: "arm64")) == 2)
        let amd64 = PlatformMatcher(try Platform(parsing: "linux/amd64/v4"))
        #expect(amd64.rank(Platform(os: "linux", architecture: "amd64", variant: "v2")) == 2)
        #expect(amd64.rank(Platform(os: "linux", architecture: "amd64")) == 3)
    }

    /// A lone combining mark (U+0612) passed as a letter; its description `linux/\u{0612}` fused
    /// the mark with the '/', so the leader could not parse the platform it had stored for a node.
    @Test(arguments: ["\u{0612}", "linux/\u{0612}", "linux/amd64/\u{0301}", "linux/ａｍｄ64", "ünix/amd64"])
    func nonASCIIIsRejected(_ input: String) {
        #expect(throws: FerryError.self) { try Platform(parsing: input) }
    }
}
