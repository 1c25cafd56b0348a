import FerryCore
import FerryRegistry
import Foundation

/// The URL of an admin API a command sends the admin token to (`--leader`, `--proxy`).
enum AdminURL {
    /// `url` checked: `http` or `https` with a host; without a trailing slash. An `http://` URL
    /// to a host other than loopback is used, but a warning says the token crosses the network in
    /// clear (a proxy behind a private link may be plain HTTP; nothing else should be).
    static func checked(_ url: String, flag: String) throws(FerryError) -> String {
        guard let parsed = URL(string: url), let scheme = parsed.scheme, ["http", "https"].contains(scheme), let host = parsed.host, !host.isEmpty
        else {
            throw FerryError(.configuration, "invalid \(flag) URL '\(url.prefix(200))': expected https://HOST[:PORT]")
        }
        let bare = host.hasPrefix("[") ? String(host.dropFirst().prefix { $0 != "]" }) : host
        if scheme == "http", !RegistryClientConfiguration.isLoopback(bare.contains(":") ? "[\(bare)]" : bare) {
            FileOutput.standardError.write(
                "ferry: warning: \(flag) \(TerminalText.escape(url, limit: 200)) is plain HTTP: the admin token crosses the network in clear; use https://\n")
        }
        return url.hasSuffix("/") ? String(url.dropLast()) : url
    }
}
