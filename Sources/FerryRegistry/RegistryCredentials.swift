import FerryCore
import Foundation

/// A username and password for one registry. Its description never shows the password.
public struct RegistryCredential: Sendable, Hashable, CustomStringConvertible {
    public var username: String
    public var password: String

    public init(username: String, password: String) {
        self.username = username
        self.password = password
    }

    /// The value of an `Authorization: Basic` header.
    public var basicAuthorization: String {
        "Basic " + Data("\(username):\(password)".utf8).base64EncodedString()
    }

    public var description: String { "RegistryCredential(username: \(username), password: <redacted>)" }
}

/// Registry credentials from a Docker `config.json`-style file:
/// `{"auths": {"HOST": {"auth": "base64(user:pass)"}}}` or `{"username": …, "password": …}`.
///
/// Keys may be bare hosts (`registry.example:5000`) or URLs (`https://index.docker.io/v1/`);
/// Docker Hub's aliases all map to `docker.io`.
public struct RegistryCredentials: Sendable {
    private var entries: [String: RegistryCredential]

    public init(_ entries: [String: RegistryCredential] = [:]) {
        self.entries = [:]
        for (key, value) in entries { self.entries[Self.normalizeHost(key)] = value }
    }

    /// Loads a config file. Errors name the file and what is wrong, never a secret.
    public init(contentsOf path: String) throws(FerryError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw FerryError(.configuration, "cannot read registry auth file '\(path)': check that it exists and is readable")
        }
        try self.init(json: data, source: path)
    }

    public init(json data: Data, source: String = "registry auth") throws(FerryError) {
        struct File: Decodable {
            struct Entry: Decodable {
                var auth: String?
                var username: String?
                var password: String?
            }
            var auths: [String: Entry]?
        }
        let file: File
        do {
            file = try JSONDecoder().decode(File.self, from: data)
        } catch {
            throw FerryError(.configuration, "registry auth file '\(source)' is not a Docker config.json: expected {\"auths\": {\"HOST\": {\"auth\": \"…\"}}}")
        }
        var entries: [String: RegistryCredential] = [:]
        for (key, entry) in file.auths ?? [:] {
            if let username = entry.username, let password = entry.password, !username.isEmpty {
                entries[key] = RegistryCredential(username: username, password: password)
            } else if let auth = entry.auth, !auth.isEmpty {
                guard let decoded = Data(base64Encoded: auth).flatMap({ String(data: $0, encoding: .utf8) }),
                    let colon = decoded.firstIndex(of: ":")
                else {
                    throw FerryError(.configuration, "registry auth file '\(source)': the 'auth' entry for '\(key)' is not base64 of user:password")
                }
                entries[key] = RegistryCredential(username: String(decoded[..<colon]), password: String(decoded[decoded.index(after: colon)...]))
            }
        }
        self.init(entries)
    }

    /// The credential for a registry host, if any.
    public func credential(for host: String) -> RegistryCredential? {
        entries[Self.normalizeHost(host)]
    }

    public var hosts: [String] { entries.keys.sorted() }

    static func normalizeHost(_ key: String) -> String {
        var host = Substring(key.lowercased())
        if let range = host.range(of: "://") { host = host[range.upperBound...] }
        if let slash = host.firstIndex(of: "/") { host = host[..<slash] }
        switch host {
        case "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com": return ImageReference.dockerHub
        default: return String(host)
        }
    }
}
