import FerryCore

/// A `/v2/` request path, parsed. Pure, so it can be tested and fuzzed without a server.
public enum RegistryPath: Sendable, Hashable {
    case base
    case manifest(name: String, reference: String)
    case blob(name: String, digest: String)
    case tags(name: String)

    /// Parses a path under `/v2/`. Names may contain `/`, so the route is read from the end.
    /// Returns nil for paths that are not part of the read API.
    public static func parse(_ path: String) -> RegistryPath? {
        guard path.hasPrefix("/v2") else { return nil }
        let rest = path.dropFirst(3)
        if rest.isEmpty || rest == "/" { return .base }
        guard rest.hasPrefix("/") else { return nil }
        let components = rest.dropFirst().split(separator: "/", omittingEmptySubsequences: false)
        guard components.count >= 3 else { return nil }
        let name = components.dropLast(2).joined(separator: "/")
        let kind = components[components.count - 2]
        let last = String(components[components.count - 1])
        switch kind {
        case "manifests": return .manifest(name: name, reference: last)
        case "blobs": return .blob(name: name, digest: last)
        case "tags" where last == "list": return .tags(name: name)
        default: return nil
        }
    }
}
