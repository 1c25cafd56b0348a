// swift-tools-version:6.2
// Fuzz targets for Ferry's parsers of untrusted input; see docs/fuzzing.md. Build and run them
// with `make fuzz` (Fuzz/run.sh), which builds only the fuzz products, in release, with
// `-Xswiftc -sanitize=fuzzer,address`: that instruments every Swift module they use, the
// project's parsers (FerryCore, FerryFormats, FerryPolicy, from the root package's library
// products) included. A plain `swift build` of this package links but covers only the harnesses.
import PackageDescription

let swiftSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]
/// libFuzzer's runtime and AddressSanitizer's, linked into each fuzz executable.
let fuzzerLink: [LinkerSetting] = [.unsafeFlags(["-sanitize=fuzzer,address"])]

/// One executable per fuzz target: `fuzz-<name>` from `Targets/<name>/`.
func fuzzTarget(_ name: String, _ dependencies: [Target.Dependency]) -> Target {
    .executableTarget(
        name: "fuzz-\(name)",
        dependencies: dependencies + ["FuzzSupport"],
        path: "Targets/\(name)",
        swiftSettings: swiftSettings,
        linkerSettings: fuzzerLink
    )
}

let ferryCore = Target.Dependency.product(name: "FerryCore", package: "ferry")
let ferryFormats = Target.Dependency.product(name: "FerryFormats", package: "ferry")
let ferryPolicy = Target.Dependency.product(name: "FerryPolicy", package: "ferry")

let package = Package(
    name: "ferry-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        // The project itself, whose pure targets are library products.
        .package(name: "ferry", path: ".."),
        // For the harnesses' own use (signing test tokens, ByteBuffers); the same ranges as the root Package.swift.
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        .target(name: "CLibFuzzer", path: "Support/CLibFuzzer"),
        .target(name: "FuzzSupport", dependencies: ["CLibFuzzer"], path: "Support/FuzzSupport", swiftSettings: swiftSettings),

        fuzzTarget("image-reference", [ferryCore]),
        fuzzTarget("manifest", [ferryCore]),
        fuzzTarget("auth-challenge", [ferryFormats]),
        fuzzTarget("byte-range", [ferryCore]),
        fuzzTarget("content-range", [ferryCore]),
        fuzzTarget("docker-json-stream", [ferryFormats, .product(name: "NIOCore", package: "swift-nio")]),
        fuzzTarget("digest", [ferryCore]),
        fuzzTarget("platform", [ferryCore]),
        fuzzTarget("byte-size", [ferryCore, ferryPolicy]),
        fuzzTarget("registry-path", [ferryFormats]),
        fuzzTarget("peer-token", [ferryFormats, ferryCore, .product(name: "Crypto", package: "swift-crypto")]),
        fuzzTarget("proxy-path", [ferryFormats]),
        fuzzTarget("proxy-token", [ferryFormats, .product(name: "Crypto", package: "swift-crypto")]),
        fuzzTarget("basic-auth", [ferryFormats]),
    ]
)
