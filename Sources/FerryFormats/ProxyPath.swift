import FerryCore

/// A repository as the proxy names it: `proxy/<app>/<registry>/<repository>`.
public struct ProxyRepository: Sendable, Hashable, CustomStringConvertible {
    /// The app (a name the vendor gave with `ferry proxy app add`).
    public var app: String
    /// The name the app gives one of its upstream registries.
    public var registry: String
    /// The repository on that registry.
    public var repository: String

    public init(app: String, registry: String, repository: String) {
        self.app = app
        self.registry = registry
        self.repository = repository
    }

    /// The name a client uses: `proxy/<app>/<registry>/<repository>`.
    public var description: String { "proxy/\(app)/\(registry)/\(repository)" }

    /// What allowance globs match: `<registry>/<repository>`.
    public var globSubject: String { "\(registry)/\(repository)" }

    /// Parses `proxy/<app>/<registry>/<repository>` (a scope's or a path's name). Nil for
    /// anything else: every part must be a plain name, so `..`, `%2e` and empty parts never pass.
    public init?(name: some StringProtocol) {
        let parts = name.split(separator: "/", maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "proxy", Self.isValidName(parts[1]), Self.isValidName(parts[2]),
            ImageReference.isValidRepository(parts[3])
        else { return nil }
        self.init(app: String(parts[1]), registry: String(parts[2]), repository: String(parts[3]))
    }

    /// An app or registry name: lowercase letters and digits, inner `-`, at most 63 characters.
    public static func isValidName(_ name: some StringProtocol) -> Bool {
        guard (1...63).contains(name.utf8.count), name.first != "-", name.last != "-" else { return false }
        return name.utf8.allSatisfy { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || $0 == UInt8(ascii: "-") }
    }
}

/// A request path of the proxy's `/v2/` API, parsed. Pure, so it is unit-tested and fuzzed.
public enum ProxyPath: Sendable, Hashable {
    case base
    case catalog
    case manifest(ProxyRepository, reference: ManifestReference)
    case blob(ProxyRepository, digest: Digest)
    case tags(ProxyRepository)

    /// A manifest's tag or digest.
    public enum ManifestReference: Sendable, Hashable, CustomStringConvertible {
        case tag(String)
        case digest(Digest)

        public var description: String {
            switch self {
            case .tag(let tag): tag
            case .digest(let digest): digest.description
            }
        }

        /// The reference as it follows a repository name: `:tag` or `@digest`.
        public var suffix: String {
            switch self {
            case .tag(let tag): ":" + tag
            case .digest(let digest): "@" + digest.description
            }
        }
    }

    /// Why a path is refused.
    public enum Problem: Error, Sendable, Hashable {
        /// Not a route of the API at all.
        case notFound
        /// A route, but a name in it is not valid (`NAME_INVALID`).
        case invalidName
        case invalidReference
        case invalidDigest
    }

    /// The repository a path names, if any.
    public var repository: ProxyRepository? {
        switch self {
        case .base, .catalog: nil
        case .manifest(let repository, _), .blob(let repository, _), .tags(let repository): repository
        }
    }

    /// Parses the raw (undecoded) path of a request. A `%` anywhere is refused: names never need one.
    public static func parse(_ path: some StringProtocol) -> Result<ProxyPath, Problem> {
        let path = Substring(path)
        guard path.hasPrefix("/v2") else { return .failure(.notFound) }
        let rest = path.dropFirst(3)
        if rest.isEmpty || rest == "/" { return .success(.base) }
        guard rest.hasPrefix("/") else { return .failure(.notFound) }
        if rest == "/_catalog" { return .success(.catalog) }
        let components = rest.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        // Empty parts (`/v2//proxy/…`) make an invalid name, below, not an unknown route.
        guard components.count >= 3, components.drop(while: \.isEmpty).first == "proxy" else { return .failure(.notFound) }
        if path.contains("%") { return .failure(.invalidName) }
        let kind = components[components.count - 2]
        let last = components[components.count - 1]
        let name = components.dropLast(2).joined(separator: "/")
        guard ["manifests", "blobs", "tags"].contains(kind) else { return .failure(.notFound) }
        guard let repository = ProxyRepository(name: name) else { return .failure(.invalidName) }
        switch kind {
        case "manifests":
            if last.contains(":") {
                guard let digest = try? Digest(parsing: last) else { return .failure(.invalidDigest) }
                return .success(.manifest(repository, reference: .digest(digest)))
            }
            guard ImageReference.isValidTag(last) else { return .failure(.invalidReference) }
            return .success(.manifest(repository, reference: .tag(String(last))))
        case "blobs":
            guard let digest = try? Digest(parsing: last) else { return .failure(.invalidDigest) }
            return .success(.blob(repository, digest: digest))
        default:
            return last == "list" ? .success(.tags(repository)) : .failure(.notFound)
        }
    }
}
