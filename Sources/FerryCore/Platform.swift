#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An OS/architecture/variant triple, as in an OCI index entry (`linux/arm64/v8`).
public struct Platform: Hashable, Sendable, CustomStringConvertible, Codable {
    public var os: String
    public var architecture: String
    public var variant: String?
    public var osVersion: String?
    public var osFeatures: [String]?

    enum CodingKeys: String, CodingKey {
        case os
        case architecture
        case variant
        case osVersion = "os.version"
        case osFeatures = "os.features"
    }

    public init(os: String, architecture: String, variant: String? = nil, osVersion: String? = nil, osFeatures: [String]? = nil) {
        self.os = os
        self.architecture = architecture
        self.variant = (variant?.isEmpty ?? true) ? nil : variant
        self.osVersion = osVersion
        self.osFeatures = osFeatures
    }

    /// Parses `os[/arch[/variant]]` (`linux/arm64/v8`, `linux/amd64`, `arm64`) and normalises it.
    public init(parsing string: String) throws(FerryError) {
        let parts = string.lowercased().split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        // ASCII only, as containerd's `[A-Za-z0-9_.-]+`: a non-ASCII letter or mark could join the
        // '/' before it into one Character, and the description would no longer parse.
        guard (1...3).contains(parts.count), parts.allSatisfy({ !$0.isEmpty && $0.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" || $0 == ".") } })
        else {
            throw FerryError(.invalidArgument, "invalid platform '\(string.prefix(100))': expected os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8")
        }
        if parts.count == 1 {
            // One word, as containerd's parser takes it: a known OS on the host's architecture,
            // or a known architecture on the host's OS; anything else is refused.
            if Self.knownOperatingSystems.contains(parts[0]) {
                self.init(os: parts[0], architecture: Platform.host.architecture, variant: Platform.host.variant)
            } else {
                self.init(os: Platform.host.os, architecture: parts[0])
                guard Self.knownArchitectures.contains(normalized().architecture) else {
                    throw FerryError(
                        .invalidArgument,
                        "invalid platform '\(string.prefix(100))': not a known operating system or architecture; expected os/arch[/variant], e.g. linux/amd64")
                }
            }
        } else {
            self.init(os: parts[0], architecture: parts[1], variant: parts.count == 3 ? parts[2] : nil)
        }
        self = normalized()
    }

    /// The operating systems containerd's parser knows (Go's `GOOS` values).
    static let knownOperatingSystems: Set<String> = [
        "aix", "android", "darwin", "dragonfly", "freebsd", "hurd", "illumos", "ios", "js", "linux", "nacl", "netbsd", "openbsd",
        "plan9", "solaris", "wasip1", "windows", "zos",
    ]

    /// The architectures containerd's parser knows (Go's `GOARCH` values), after normalisation.
    static let knownArchitectures: Set<String> = [
        "386", "amd64", "amd64p32", "arm", "armbe", "arm64", "arm64be", "loong64", "mips", "mipsle", "mips64", "mips64le", "mips64p32",
        "mips64p32le", "ppc", "ppc64", "ppc64le", "riscv", "riscv64", "s390", "s390x", "sparc", "sparc64", "wasm",
    ]

    public var description: String {
        [os, architecture, variant].compactMap { $0 }.joined(separator: "/")
    }

    /// containerd's normalisation: `x86_64` → `amd64`, `aarch64` → `arm64` (variant `v8` dropped),
    /// `armhf` → `arm/v7`, `i386` → `386`, `macos` → `darwin`, and so on.
    public func normalized() -> Platform {
        var os = self.os.lowercased()
        if os == "macos" { os = "darwin" }
        var arch = architecture.lowercased()
        var variant = self.variant?.lowercased()
        switch arch {
        case "i386":
            arch = "386"
            variant = nil
        case "x86_64", "x86-64", "amd64":
            arch = "amd64"
            if variant == "v1" { variant = nil }
        case "aarch64", "arm64":
            arch = "arm64"
            if variant == "8" || variant == "v8" { variant = nil }
        case "armhf":
            arch = "arm"
            variant = "v7"
        case "armel":
            arch = "arm"
            variant = "v6"
        case "arm":
            switch variant {
            case nil, "7", "v7": variant = "v7"
            case "5", "6", "8": variant = "v" + variant!
            default: break
            }
        default:
            break
        }
        return Platform(os: os, architecture: arch, variant: variant, osVersion: osVersion, osFeatures: osFeatures)
    }

    /// The platform of the machine Ferry runs on.
    public static let host: Platform = {
        var name = utsname()
        uname(&name)
        let machine = withUnsafeBytes(of: &name.machine) { raw in
            String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
        }
        #if os(Linux)
        let os = "linux"
        #else
        let os = "darwin"
        #endif
        return Platform(os: os, architecture: machine).normalized()
    }()
}

/// Chooses among an index's platforms the way containerd's `platforms.Only` does: an exact
/// match first, then the compatible fallbacks in order (amd64 runs 386; arm64 runs arm v8…v5;
/// arm/v7 runs v6 and v5). The first entry in index order wins within a rank.
public struct PlatformMatcher: Sendable {
    public let wanted: Platform
    private let acceptable: [Platform]

    /// The highest lower level listed as a fallback: above every real one (amd64 v4, arm64 v8.9),
    /// and small enough that a variant like `v8.99999999999` cannot make a list that long.
    static let highestFallbackLevel = 16

    public init(_ wanted: Platform) {
        let wanted = wanted.normalized()
        self.wanted = wanted
        var acceptable = [wanted]
        switch (wanted.architecture, wanted.variant) {
        case ("amd64", let variant):
            // amd64/v3 runs v2 and baseline (v1, normalised to no variant) images too.
            if let level = variant.flatMap({ Int($0.dropFirst()) }), variant?.hasPrefix("v") == true, level >= 2 {
                for lower in stride(from: min(level - 1, Self.highestFallbackLevel), through: 2, by: -1) {
                    acceptable.append(Platform(os: wanted.os, architecture: "amd64", variant: "v\(lower)"))
                }
                acceptable.append(Platform(os: wanted.os, architecture: "amd64"))
            }
            acceptable.append(Platform(os: wanted.os, architecture: "386"))
        case ("arm64", let variant):
            // arm64/v8.N runs lower v8.x and plain v8 (normalised to no variant) images.
            if let variant, variant.hasPrefix("v8."), let minor = Int(variant.dropFirst(3)), minor >= 1 {
                for lower in stride(from: min(minor - 1, Self.highestFallbackLevel), through: 1, by: -1) {
                    acceptable.append(Platform(os: wanted.os, architecture: "arm64", variant: "v8.\(lower)"))
                }
                acceptable.append(Platform(os: wanted.os, architecture: "arm64"))
            }
            for variant in ["v8", "v7", "v6", "v5"] {
                acceptable.append(Platform(os: wanted.os, architecture: "arm", variant: variant))
            }
        case ("arm", let variant?):
            let order = ["v8", "v7", "v6", "v5"]
            if let start = order.firstIndex(of: variant) {
                for lower in order[(start + 1)...] {
                    acceptable.append(Platform(os: wanted.os, architecture: "arm", variant: lower))
                }
            }
        default:
            break
        }
        self.acceptable = acceptable
    }

    /// The rank of `candidate` (0 is an exact match), or nil if it cannot run here.
    /// `unknown` os or architecture (attestations) never match.
    public func rank(_ candidate: Platform) -> Int? {
        let candidate = candidate.normalized()
        guard candidate.os != "unknown", candidate.architecture != "unknown" else { return nil }
        return acceptable.firstIndex { $0.os == candidate.os && $0.architecture == candidate.architecture && $0.variant == candidate.variant }
    }

    /// The index of the best entry in `candidates`, or nil.
    public func best(_ candidates: [Platform?]) -> Int? {
        var best: (index: Int, rank: Int)?
        for (index, candidate) in candidates.enumerated() {
            guard let candidate, let rank = rank(candidate) else { continue }
            if best == nil || rank < best!.rank { best = (index, rank) }
        }
        return best?.index
    }
}
