/// A parsed Docker image reference: `[registry/]repository[:tag][@digest]`, normalised the way
/// the Docker CLI does (`alpine` → `docker.io/library/alpine:latest`).
///
/// Grammar: distribution/reference `reference.go`. Parsing is hand-written (no regex) so it is
/// cheap, total, and safe to fuzz.
public struct ImageReference: Hashable, Sendable, CustomStringConvertible, StringCodable {
    /// The registry host, with port if any (`docker.io`, `127.0.0.1:5000`).
    public var registry: String
    /// The repository path within the registry (`library/alpine`).
    public var repository: String
    /// The tag, if any. A reference with neither tag nor digest gets `latest`.
    public var tag: String?
    /// The digest, if the reference pins one.
    public var digest: Digest?

    public static let dockerHub = "docker.io"

    public init(registry: String, repository: String, tag: String? = nil, digest: Digest? = nil) {
        self.registry = registry
        self.repository = repository
        self.tag = tag
        self.digest = digest
    }

    /// Parses and normalises a reference. Throws ``FerryError/Code/invalidReference`` with a
    /// message that names the offending part.
    public init(parsing input: String) throws(FerryError) {
        func fail(_ why: String) -> FerryError {
            FerryError(.invalidReference, "invalid image reference '\(input.prefix(300))': \(why)")
        }
        guard !input.isEmpty else { throw fail("it is empty") }
        guard input.utf8.count <= 1024 else { throw fail("it is longer than 1024 characters") }
        // As distribution/reference ParseNormalizedNamed: a bare 64-hex string is an image ID, not a name.
        if input.utf8.count == 64, input.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }) {
            throw fail("a 64-character hexadecimal string is an image ID, not a repository name")
        }

        var remainder = Substring(input)
        var digest: Digest?
        if let at = remainder.lastIndex(of: "@") {
            do {
                digest = try Digest(parsing: remainder[remainder.index(after: at)...])
            } catch {
                throw fail("the digest is not valid (expected sha256:<64 lowercase hex digits>)")
            }
            remainder = remainder[..<at]
        }
        var tag: String?
        if let colon = remainder.lastIndex(of: ":"), !remainder[colon...].contains("/") {
            let candidate = remainder[remainder.index(after: colon)...]
            guard Self.isValidTag(candidate) else {
                throw fail("the tag '\(candidate.prefix(130))' is not valid (letters, digits, '_', '.', '-', at most 128, not starting with '.' or '-')")
            }
            tag = String(candidate)
            remainder = remainder[..<colon]
        }
        guard !remainder.isEmpty else { throw fail("the repository name is missing") }

        var registry = Self.dockerHub
        var path = remainder
        if let slash = remainder.firstIndex(of: "/") {
            let first = remainder[..<slash]
            if first.contains(".") || first.contains(":") || first == "localhost" || first.contains(where: \.isUppercase) {
                guard Self.isValidDomain(first) else { throw fail("the registry host '\(first)' is not valid") }
                registry = String(first)
                path = remainder[remainder.index(after: slash)...]
            }
        }
        if registry == "index.docker.io" || registry == "registry-1.docker.io" { registry = Self.dockerHub }
        if path.contains(where: \.isUppercase) {
            throw fail("repository names must be lowercase")
        }
        guard Self.isValidRepository(path) else {
            throw fail("the repository name '\(path.prefix(260))' is not valid (lowercase letters, digits, and '.', '_', '__', '-' between them, '/' between components)")
        }
        var repository = String(path)
        if registry == Self.dockerHub && !repository.contains("/") {
            repository = "library/" + repository
        }
        guard registry.utf8.count + 1 + repository.utf8.count <= 255 else {
            throw fail("the name is longer than 255 characters")
        }
        if tag == nil && digest == nil { tag = "latest" }
        self.init(registry: registry, repository: repository, tag: tag, digest: digest)
    }

    /// The canonical form: `registry/repository[:tag][@digest]`.
    public var description: String {
        var out = "\(registry)/\(repository)"
        if let tag { out += ":\(tag)" }
        if let digest { out += "@\(digest)" }
        return out
    }

    /// `registry/repository`, without tag or digest.
    public var name: String { "\(registry)/\(repository)" }

    /// What to ask the registry's manifest endpoint for: the digest when pinned, else the tag.
    public var manifestReference: String { digest?.description ?? tag ?? "latest" }

    /// A copy with the digest replaced and the tag kept.
    public func with(digest: Digest?) -> ImageReference {
        ImageReference(registry: registry, repository: repository, tag: tag, digest: digest)
    }

    public init(parsingDescription text: String) throws(FerryError) { try self.init(parsing: text) }
}
