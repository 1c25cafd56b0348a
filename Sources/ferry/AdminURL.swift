import FerryCore
import FerryMesh
import FerryRegistry
import Foundation

/// The URL of an admin API a command sends the admin token to (`--leader`, `--proxy`).
enum AdminURL {
    /// The leader's URL checked as followers check it (`https://HOST[:PORT]`, or `http://` for a
    /// plain-HTTP mesh; no user, path or query), without
    /// a trailing slash; `source` names where it came from (`--leader`, `FERRY_LEADER`, …).
    static func leader(_ url: String, source: String) throws(FerryError) -> String {
        let address: NodeAddress
        do {
            address = try NodeAddress(leaderURL: url)
        } catch {
            // Not echoed when it holds user info: that may be a password.
            let shown = url.contains("@") ? "" : " '\(TerminalText.escape(url, limit: 120))'"
            throw FerryError(.configuration, "invalid leader URL\(shown) (\(source)): expected https://HOST[:PORT] (http:// on a mesh run with --insecure-mesh), with nothing after it")
        }
        warnIfClear(url, scheme: address.scheme.rawValue, host: address.host, source: source)
        return url.hasSuffix("/") ? String(url.dropLast()) : url
    }

    /// The proxy's URL (`http(s)://HOST[:PORT][/PATH]`, no credentials in it), without a trailing slash.
    static func proxy(_ url: String, source: String) throws(FerryError) -> String {
        guard let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(), ["http", "https"].contains(scheme),
            let host = parsed.host, !host.isEmpty
        else {
            throw FerryError(.configuration, "invalid \(source) URL '\(url.prefix(200))': expected https://HOST[:PORT]")
        }
        guard parsed.user == nil, parsed.password == nil else {
            throw FerryError(.configuration, "invalid \(source) URL: it holds credentials; give the admin token with --token-file or FERRY_PROXY_TOKEN")
        }
        warnIfClear(url, scheme: scheme, host: host, source: source)
        return url.hasSuffix("/") ? String(url.dropLast()) : url
    }

    /// An `http://` URL to a host other than loopback still works (a proxy behind a private link
    /// may be plain HTTP), with a warning: the admin token crosses the network in clear.
    private static func warnIfClear(_ url: String, scheme: String, host: String, source: String) {
        guard scheme == "http", !RegistryClientConfiguration.isLoopbackHost(host) else { return }
        FileOutput.standardError.write(
            "ferry: warning: \(source) \(TerminalText.escape(url, limit: 200)) is plain HTTP: the admin token crosses the network in clear; use https://\n")
    }
}
