import FerryCore
import Foundation
import Testing

@Suite("Platform")
struct PlatformTests {
    @Test("normalises as containerd does", arguments: [
        ("linux/x86_64", "linux/amd64"),
        ("linux/x86-64", "linux/amd64"),
        ("linux/amd64/v1", "linux/amd64"),
        ("linux/amd64/v3", "linux/amd64/v3"),
        ("linux/aarch64", "linux/arm64"),
        ("linux/arm64/v8", "linux/arm64"),
        ("linux/arm64/8", "linux/arm64"),
        ("linux/aarch64/v8", "linux/arm64"),
        ("linux/armhf", "linux/arm/v7"),
        ("linux/armel", "linux/arm/v6"),
        ("linux/arm", "linux/arm/v7"),
        ("linux/arm/7", "linux/arm/v7"),
        ("linux/arm/5", "linux/arm/v5"),
        ("linux/arm/6", "linux/arm/v6"),
        ("linux/arm/8", "linux/arm/v8"),
        ("linux/arm/v6", "linux/arm/v6"),
        ("linux/i386", "linux/386"),
        ("macos/arm64", "darwin/arm64"),
        ("Linux/AMD64", "linux/amd64"),
        ("windows/amd64", "windows/amd64"),
        ("linux/ppc64le", "linux/ppc64le"),
        ("linux/s390x", "linux/s390x"),
    ])
    func normalises(_ input: String, _ expected: String) throws {
        let platform = try Platform(parsing: input)
        #expect(platform.description == expected)
        #expect(platform == platform.normalized())
    }

    @Test func normalisedFromStructFields() {
        let platform = Platform(os: "linux", architecture: "aarch64", variant: "v8").normalized()
        #expect(platform == Platform(os: "linux", architecture: "arm64"))
        #expect(platform.variant == nil)
        #expect(Platform(os: "linux", architecture: "amd64", variant: "").variant == nil)
    }

    @Test func bareArchitectureTakesTheHostOS() throws {
        let platform = try Platform(parsing: "aarch64")
        #expect(platform.os == Platform.host.os)
        #expect(platform.architecture == "arm64")
    }

    @Test func bareOperatingSystemTakesTheHostArchitecture() throws {
        let platform = try Platform(parsing: "linux")
        #expect(platform.os == "linux")
        #expect(platform.architecture == Platform.host.architecture)
        #expect(try Platform(parsing: "Windows").os == "windows")
    }

    @Test("rejects malformed platforms", arguments: [
        "", "/", "linux/", "/amd64", "linux//v7", "linux/amd64/v8/extra", "linux/amd 64", "linux/amd64?", "potato", "amd65",
    ])
    func rejects(_ input: String) {
        do {
            let platform = try Platform(parsing: input)
            Issue.record("'\(input)' parsed as \(platform)")
        } catch {
            #expect(error.code == .invalidArgument)
        }
    }

    @Test func hostIsNormalised() {
        #expect(Platform.host == Platform.host.normalized())
        #expect(!Platform.host.architecture.isEmpty)
    }

    @Test func decodesOCIFieldNames() throws {
        let json = #"{"os":"windows","architecture":"amd64","os.version":"10.0.17763.1","os.features":["win32k"]}"#
        let platform = try JSONDecoder().decode(Platform.self, from: Data(json.utf8))
        #expect(platform.osVersion == "10.0.17763.1")
        #expect(platform.osFeatures == ["win32k"])
        #expect(platform.variant == nil)
    }
}

@Suite("PlatformMatcher")
struct PlatformMatcherTests {
    static func p(_ text: String) -> Platform {
        let parts = text.split(separator: "/").map(String.init)
        return Platform(os: parts[0], architecture: parts[1], variant: parts.count > 2 ? parts[2] : nil)
    }

    static let ranks: [(String, String, Int?)] = [
        ("linux/amd64", "linux/amd64", 0),
        ("linux/amd64", "linux/x86_64", 0),
        ("linux/amd64", "linux/386", 1),
        ("linux/amd64", "linux/i386", 1),
        ("linux/amd64", "linux/arm64", nil),
        ("linux/amd64", "windows/amd64", nil),
        ("linux/386", "linux/amd64", nil),
        ("linux/arm64", "linux/arm64/v8", 0),
        ("linux/arm64", "linux/aarch64", 0),
        ("linux/arm64", "linux/arm/v8", 1),
        ("linux/arm64", "linux/arm/v7", 2),
        ("linux/arm64", "linux/arm/v6", 3),
        ("linux/arm64", "linux/arm/v5", 4),
        ("linux/arm64", "linux/amd64", nil),
        ("linux/arm/v7", "linux/arm", 0),
        ("linux/arm/v7", "linux/arm/v6", 1),
        ("linux/arm/v7", "linux/arm/v5", 2),
        ("linux/arm/v7", "linux/arm/v8", nil),
        ("linux/arm/v7", "linux/arm64", nil),
        ("linux/arm/v6", "linux/arm/v7", nil),
        ("linux/arm/v6", "linux/arm/v5", 1),
        ("linux/arm/v5", "linux/arm/v6", nil),
        ("linux/amd64/v3", "linux/amd64/v3", 0),
        ("linux/amd64/v3", "linux/amd64/v2", 1),
        ("linux/amd64/v3", "linux/amd64", 2),
        ("linux/amd64/v3", "linux/386", 3),
        ("linux/amd64/v3", "linux/amd64/v4", nil),
        ("linux/amd64", "linux/amd64/v2", nil),
        ("linux/arm64/v8.2", "linux/arm64/v8.2", 0),
        ("linux/arm64/v8.2", "linux/arm64/v8.1", 1),
        ("linux/arm64/v8.2", "linux/arm64", 2),
        ("linux/arm64/v8.2", "linux/arm/v7", 4),
        ("linux/arm64", "linux/arm64/v8.2", nil),
        ("linux/amd64", "unknown/unknown", nil),
        ("linux/amd64", "linux/unknown", nil),
        ("linux/amd64", "unknown/amd64", nil),
    ]

    @Test("ranks exact matches first, then containerd's fallbacks", arguments: ranks)
    func rank(_ wanted: String, _ candidate: String, _ expected: Int?) {
        #expect(PlatformMatcher(Self.p(wanted)).rank(Self.p(candidate)) == expected)
    }

    @Test func wantedPlatformIsNormalised() {
        let matcher = PlatformMatcher(Self.p("linux/x86_64"))
        #expect(matcher.wanted == Self.p("linux/amd64"))
        #expect(matcher.rank(Self.p("linux/amd64")) == 0)
    }

    @Test func bestPrefersTheFirstExactMatchInIndexOrder() {
        let matcher = PlatformMatcher(Self.p("linux/amd64"))
        let candidates: [Platform?] = [Self.p("linux/386"), nil, Self.p("linux/amd64"), Self.p("linux/x86_64")]
        #expect(matcher.best(candidates) == 2)
    }

    @Test func bestFallsBackToTheBestRank() {
        let matcher = PlatformMatcher(Self.p("linux/arm64"))
        let candidates: [Platform?] = [Self.p("linux/amd64"), Self.p("linux/arm/v6"), Self.p("linux/arm/v7"), Self.p("linux/arm/v7")]
        #expect(matcher.best(candidates) == 2)
    }

    @Test func bestIsNilWithoutACandidate() {
        let matcher = PlatformMatcher(Self.p("linux/amd64"))
        #expect(matcher.best([]) == nil)
        #expect(matcher.best([nil, Self.p("linux/arm64"), Self.p("unknown/unknown")]) == nil)
    }
}
