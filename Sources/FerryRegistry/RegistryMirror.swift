import FerryCore

/// Where images of one registry host are fetched instead: another host and a path prefix,
/// `ORIGINAL_HOST=MIRROR_HOST[/PATH]` (`registry.vendor.example=proxy.vendor.example/proxy/shop/vendor`).
///
/// Only the requests change: `registry.vendor.example/team/app:1.4` is fetched as
/// `proxy.vendor.example/proxy/shop/vendor/team/app:1.4` (credentials, token scopes and plain-HTTP
/// rules are those of the mirror's host), while everything recorded and handed to engines keeps
/// the original name.
public struct RegistryMirror: Sendable, Hashable, CustomStringConvertible {
    /// The host images are named with (`registry.vendor.example`).
    public var original: String
    /// The host requests go to (`proxy.vendor.example`, `127.0.0.1:5443`).
    public var host: String
    /// Repository components put before the original repository (`proxy/shop/vendor`); empty: none.
    public var prefix: String

    public init(original: String, host: String, prefix: String = "") {
        self.original = original
        self.host = host
        self.prefix = prefix
    }

    /// Parses `ORIGINAL_HOST=MIRROR_HOST[/PATH]`; the error names the part that is wrong.
    public init(parsing text: String) throws(FerryError) {
        func fail(_ why: String) -> FerryError {
            FerryError(.configuration, "invalid --mirror '\(text.prefix(300))': \(why); expected ORIGINAL_HOST=MIRROR_HOST[/PATH], e.g. registry.vendor.example=proxy.vendor.example/proxy/shop/vendor")
        }
        let parts = text.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 else { throw fail("no '='") }
        let original = parts[0] == "index.docker.io" || parts[0] == "registry-1.docker.io" ? ImageReference.dockerHub : parts[0]
        guard Self.isHost(original) else { throw fail("'\(original.prefix(260))' is not a registry host") }
        let target = parts[1]
        let slash = target.firstIndex(of: "/")
        let host = String(target[..<(slash ?? target.endIndex)])
        var prefix = slash.map { String(target[target.index(after: $0)...]) } ?? ""
        while prefix.hasSuffix("/") { prefix.removeLast() }
        guard Self.isHost(host) else { throw fail("'\(host.prefix(260))' is not a registry host") }
        if !prefix.isEmpty {
            guard let probe = try? ImageReference(parsing: host + "/" + prefix + "/probe"), probe.registry == host, probe.repository == prefix + "/probe" else {
                throw fail("'\(prefix.prefix(260))' is not a repository path (lowercase components separated by '/')")
            }
        }
        guard host != original || !prefix.isEmpty else { throw fail("a registry cannot mirror itself") }
        self.init(original: original, host: host, prefix: prefix)
    }

    /// `reference` as it is fetched through this mirror (unchanged if it names another host).
    public func apply(to reference: ImageReference) -> ImageReference {
        guard reference.registry == original else { return reference }
        let repository = prefix.isEmpty ? reference.repository : prefix + "/" + reference.repository
        return ImageReference(registry: host, repository: repository, tag: reference.tag, digest: reference.digest)
    }

    public var description: String { "\(original)=\(host)\(prefix.isEmpty ? "" : "/" + prefix)" }

    /// Whether `text` is a host as an image reference's first part (`name[:port]`, `ip[:port]`).
    static func isHost(_ text: String) -> Bool {
        guard !text.isEmpty, text.utf8.count <= 255, !text.contains("/"), let reference = try? ImageReference(parsing: text + "/ferry/probe") else {
            return false
        }
        return reference.registry == text && reference.repository == "ferry/probe"
    }
}

extension RegistryClientConfiguration {
    /// Where `reference` is fetched: through its registry's mirror, if one is configured.
    public func routed(_ reference: ImageReference) -> ImageReference {
        mirrors[reference.registry]?.apply(to: reference) ?? reference
    }

    /// Where the registry `host` is reached: its mirror's host, if one is configured.
    public func routedHost(_ host: String) -> String {
        mirrors[host]?.host ?? host
    }
}
