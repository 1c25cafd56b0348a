import FerryCore
import Foundation

/// Where a PostgreSQL-backed proxy keeps its state: `--database` (or the `database` key,
/// `FERRY_DATABASE`), `postgres://USER:PASSWORD@HOST[:PORT]/DATABASE[?sslmode=…&sslrootcert=FILE]`,
/// or over a unix socket `postgres://USER@/DATABASE?host=/run/postgresql[&port=PORT]` (the socket
/// `<host>/.s.PGSQL.<port>`; no TLS, as libpq). The password is never shown: ``redacted`` is what
/// logs, errors and `DIR/database` carry.
public struct ProxyDatabaseURL: Sendable, Hashable, CustomStringConvertible {
    /// How the connection uses TLS (libpq's `sslmode`): `disable`, `prefer` (the default: TLS if the
    /// server offers it) or `require` (TLS with the server's certificate and host name verified,
    /// against the system's roots or ``rootCertificates``; `verify-ca` and `verify-full` mean the same).
    public enum TLSMode: String, Sendable, Hashable {
        case disable, prefer, require
    }

    public var host: String
    public var port: Int
    /// A directory holding the server's socket (`.s.PGSQL.<port>`); nil: TCP to ``host``.
    public var socketDirectory: String?
    public var user: String
    public var password: String?
    public var database: String
    public var tls: TLSMode
    /// `sslrootcert`: a PEM file of the certificate authorities (or the self-signed certificate) the
    /// server's certificate must chain to, instead of the system's roots.
    public var rootCertificates: String?

    static let usage = "expected postgres://USER:PASSWORD@HOST[:PORT]/DATABASE[?sslmode=disable|prefer|require&sslrootcert=FILE] or postgres://USER@/DATABASE?host=/SOCKET/DIR[&port=PORT]"
    static let parameters = ["host", "port", "sslmode", "sslrootcert"]

    /// Parses `text`; errors never repeat it (it may hold a password).
    public init(parsing text: String) throws(FerryError) {
        let invalid = FerryError(.configuration, "invalid --database URL: \(Self.usage)")
        guard let components = URLComponents(string: text), let scheme = components.scheme, ["postgres", "postgresql"].contains(scheme) else {
            throw invalid
        }
        var query: [String: String] = [:]
        for item in components.queryItems ?? [] { query[item.name] = item.value ?? "" }
        socketDirectory = query["host"].flatMap { $0.hasPrefix("/") ? $0 : nil }
        host = components.host.flatMap { $0.isEmpty ? nil : $0 } ?? ""
        guard !host.isEmpty || socketDirectory != nil else { throw invalid }
        if let text = query["port"] {
            guard let port = Int(text) else { throw invalid }
            self.port = port
        } else {
            port = components.port ?? 5432
        }
        guard (1...65535).contains(port) else { throw invalid }
        guard let user = components.percentEncodedUser?.removingPercentEncoding, !user.isEmpty else {
            throw FerryError(.configuration, "invalid --database URL: no user name; \(Self.usage)")
        }
        self.user = user
        password = components.percentEncodedPassword?.removingPercentEncoding
        let path = components.path.hasPrefix("/") ? String(components.path.dropFirst()) : components.path
        guard !path.isEmpty, !path.contains("/") else {
            throw FerryError(.configuration, "invalid --database URL: no database name; \(Self.usage)")
        }
        database = path
        switch query["sslmode"] ?? "prefer" {
        case "disable": tls = .disable
        case "allow", "prefer": tls = .prefer
        case "require", "verify-ca", "verify-full": tls = .require
        default: throw FerryError(.configuration, "invalid --database URL: sslmode must be disable, prefer, require, verify-ca or verify-full")
        }
        rootCertificates = query["sslrootcert"]
        if let file = rootCertificates, !file.hasPrefix("/") {
            throw FerryError(.configuration, "invalid --database URL: sslrootcert must be an absolute path")
        }
        for name in query.keys where !Self.parameters.contains(name) {
            throw FerryError(.configuration, "invalid --database URL: unknown parameter '\(name.prefix(40))' (known: \(Self.parameters.joined(separator: ", ")))")
        }
    }

    /// Whether `text` names PostgreSQL (rather than being a typo of something else).
    public static func isPostgres(_ text: String) -> Bool {
        text.hasPrefix("postgres://") || text.hasPrefix("postgresql://")
    }

    /// The URL without its password: what logs, errors and `DIR/database` show.
    public var redacted: String {
        let endpoint = socketDirectory.map { "@/\(database)?host=\($0)" + (port == 5432 ? "" : "&port=\(port)") } ?? "@\(host):\(port)/\(database)"
        return "postgres://\(user)\(endpoint)"
    }

    public var description: String { redacted }
}
