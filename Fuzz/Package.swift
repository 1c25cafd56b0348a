// swift-tools-version:6.2
// Fuzz targets for Ferry's parsers of untrusted input; see docs/fuzzing.md. Built with
// `swift build --package-path Fuzz --scratch-path .build-fuzz -c release` (make fuzz does it).
//
// The root package exposes no library products, so this package compiles the project's own
// parser files itself: `Project/<Module>/` holds symlinks to the files of ../Sources/<Module>/
// that the parsers need (and nothing that needs Logging, Metrics, NIO's networking or the HTTP
// client). Module names match the project's, so the harnesses import FerryCore etc.
import PackageDescription

/// Coverage instrumentation for libFuzzer and AddressSanitizer on the project code and harnesses
/// (the dependencies stay uninstrumented).
let instrumented: [SwiftSetting] = [
    .unsafeFlags(["-sanitize=fuzzer,address"]),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]
let fuzzerLink: [LinkerSetting] = [.unsafeFlags(["-sanitize=fuzzer,address"])]

/// One executable per fuzz target: `fuzz-<name>` from `Targets/<name>/`.
func fuzzTarget(_ name: String, _ dependencies: [Target.Dependency]) -> Target {
    .executableTarget(
        name: "fuzz-\(name)",
        dependencies: dependencies + ["FuzzSupport"],
        path: "Targets/\(name)",
        swiftSettings: instrumented,
        linkerSettings: fuzzerLink
    )
}

let package = Package(
    name: "ferry-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [
        // The same ranges as the root Package.swift.
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        .target(
            name: "FerryCore",
            dependencies: [.product(name: "Crypto", package: "swift-crypto")],
            path: "Project/FerryCore",
            swiftSettings: instrumented
        ),
        .target(name: "FerryRegistry", path: "Project/FerryRegistry", swiftSettings: instrumented),
        .target(name: "FerryServer", dependencies: ["FerryCore"], path: "Project/FerryServer", swiftSettings: instrumented),
        .target(
            name: "FerryMesh",
            dependencies: ["FerryCore", .product(name: "Crypto", package: "swift-crypto")],
            path: "Project/FerryMesh",
            swiftSettings: instrumented
        ),
        .target(
            name: "FerryDocker",
            dependencies: ["FerryCore", .product(name: "NIOCore", package: "swift-nio")],
            path: "Project/FerryDocker",
            swiftSettings: instrumented
        ),
        .target(name: "CLibFuzzer", path: "Support/CLibFuzzer"),
        .target(name: "FuzzSupport", dependencies: ["CLibFuzzer"], path: "Support/FuzzSupport", swiftSettings: instrumented),

        fuzzTarget("image-reference", ["FerryCore"]),
        fuzzTarget("manifest", ["FerryCore"]),
        fuzzTarget("auth-challenge", ["FerryRegistry"]),
        fuzzTarget("byte-range", ["FerryCore"]),
        fuzzTarget("content-range", ["FerryCore"]),
        fuzzTarget("docker-json-stream", ["FerryDocker", .product(name: "NIOCore", package: "swift-nio")]),
        fuzzTarget("digest", ["FerryCore"]),
        fuzzTarget("platform", ["FerryCore"]),
        fuzzTarget("byte-size", ["FerryCore"]),
        fuzzTarget("registry-path", ["FerryServer"]),
        fuzzTarget("peer-token", ["FerryMesh", "FerryCore", .product(name: "Crypto", package: "swift-crypto")]),
    ]
)
