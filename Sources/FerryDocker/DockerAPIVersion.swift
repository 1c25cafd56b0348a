import FerryCore

/// An Engine API version (`1.41`), compared numerically (1.9 < 1.41).
public struct DockerAPIVersion: Sendable, Hashable, Comparable, CustomStringConvertible, LosslessStringConvertible {
    public var major: Int
    public var minor: Int

    /// The newest API this client speaks: Docker 29.0's maximum.
    public static let clientMaximum = DockerAPIVersion(1, 52)
    /// What to assume when a server's `/_ping` names no version (as the Docker CLI does).
    public static let fallback = DockerAPIVersion(1, 24)

    public init(_ major: Int, _ minor: Int) {
        self.major = major
        self.minor = minor
    }

    /// Parses `MAJOR.MINOR` (`"1.41"`); nil for anything else.
    public init?(_ description: String) {
        let parts = description.trimmingWhitespace().split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 2,
            parts.allSatisfy({ !$0.isEmpty && $0.count <= 4 && $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
            let major = Int(parts[0]), let minor = Int(parts[1])
        else { return nil }
        self.init(major, minor)
    }

    public var description: String { "\(major).\(minor)" }

    /// The path prefix of versioned calls: `/v1.41`.
    public var pathPrefix: String { "/v\(description)" }

    public static func < (lhs: DockerAPIVersion, rhs: DockerAPIVersion) -> Bool {
        (lhs.major, lhs.minor) < (rhs.major, rhs.minor)
    }

    /// The version to use with a server whose `/_ping` sent `Api-Version: serverHeader`:
    /// the lower of the server's and the client's maximum; ``fallback`` (capped by the client's
    /// maximum) when the header is missing or unreadable.
    public static func negotiate(serverHeader: String?, clientMaximum: DockerAPIVersion = .clientMaximum) -> DockerAPIVersion {
        guard let server = serverHeader.flatMap(DockerAPIVersion.init) else { return min(fallback, clientMaximum) }
        return min(server, clientMaximum)
    }
}
