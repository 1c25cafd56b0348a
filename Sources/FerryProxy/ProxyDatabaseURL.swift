import FerryCore
import Foundation

/// Where a PostgreSQL-backed proxy keeps its state: `--database` (or the `database` key,
/// `FERRY_DATABASE`), `postgres://USER:PASSWORD@HOST[:PORT]/DATABASE[?sslmode=…]`, or a unix
/// socket directory with `?host=/run/postgresql`. The password is never shown: ``redacted`` is what
/// logs, errors and `DIR/database` carry.
public struct ProxyDatabaseURL: Sendable, Hashable, CustomStringConvertible {
    /// How the connection uses TLS (libpq's `sslmode`): `disable`, `prefer` (the default: TLS if the
    /// server offers it) or `require` (TLS with the server's certificate verified; also `verify-full`).
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

    static let usage = "expected postgres://USER:PASSWORD@HOST[:PORT]/DATABASE[?sslmode=disable|prefer|require]"

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
        port = components.port ?? 5432
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
        default: throw FerryError(.configuration, "invalid --database URL: sslmode must be disable, prefer or require")
        }
        for name in query.keys where !["host", "sslmode"].contains(name) {
            throw FerryError(.configuration, "invalid --database URL: unknown parameter '\(name.prefix(40))' (known: host, sslmode)")
        }
    }

    /// Whether `text` names PostgreSQL (rather than being a typo of something else).
    public static func isPostgres(_ text: String) -> Bool {
        text.hasPrefix("postgres://") || text.hasPrefix("postgresql://")
    }

    /// The URL without its password: what logs, errors and `DIR/database` show.
    public var redacted: String {
        let endpoint = socketDirectory.map { "@/\(database)?host=\($0)" } ?? "@\(host):\(port)/\(database)"
        return "postgres://\(user)\(endpoint)"
    }

    public var description: String { redacted }
}
