import FerryCore
import Logging
import PostgresNIO

extension ProxyPostgresDatabase {
    /// The schema, as append-only migrations: each runs once, in order, recorded by name in
    /// `ferry_proxy_migrations`. Add new ones at the end; never edit one that has shipped.
    static let migrations: [(name: String, statements: [String])] = [
        (
            "proxy-v1: apps, licences, manifests, repositories, pulls, shared secrets",
            [
                "CREATE TABLE apps (name text PRIMARY KEY, registries text NOT NULL, images text NOT NULL, created_at timestamptz NOT NULL)",
                """
                CREATE TABLE licences (id bigserial PRIMARY KEY, hash text NOT NULL UNIQUE, app text NOT NULL REFERENCES apps(name),
                    customer text NOT NULL, images text NOT NULL, created_at timestamptz NOT NULL, expires_at timestamptz,
                    revoked_at timestamptz, max_rate bigint)
                """,
                "CREATE TABLE manifests (digest text PRIMARY KEY, media_type text NOT NULL)",
                "CREATE TABLE repositories (name text PRIMARY KEY)",
                """
                CREATE TABLE pulls (id bigserial PRIMARY KEY, at timestamptz NOT NULL, licence_id bigint NOT NULL, app text NOT NULL,
                    repository text NOT NULL, kind text NOT NULL, digest text NOT NULL, bytes bigint NOT NULL, status bigint NOT NULL,
                    client text NOT NULL)
                """,
                "CREATE INDEX pulls_at ON pulls (at)",
                "CREATE INDEX pulls_licence_id ON pulls (licence_id)",
                "CREATE TABLE secrets (name text PRIMARY KEY, value text NOT NULL)",
            ]
        ),
        (
            "proxy-v2: content and tags confirmed upstream",
            [
                "CREATE TABLE confirmed (digest text NOT NULL, repository text NOT NULL, PRIMARY KEY (digest, repository))",
                """
                CREATE TABLE tags (repository text NOT NULL, tag text NOT NULL, digest text NOT NULL, resolved_at timestamptz NOT NULL,
                    PRIMARY KEY (repository, tag))
                """,
            ]
        ),
    ]

    /// Applies the migrations not yet applied, in one transaction under an advisory lock, so
    /// replicas starting together migrate once.
    static func migrate(_ connection: PostgresConnection, logger: Logger) async throws {
        // Written by a newer Ferry (a migration this one does not know): its schema may mean
        // something this one would misread; nothing is applied.
        let unknown = try await connection.withTransaction(logger: logger) { connection -> String? in
            try await connection.query("SELECT pg_advisory_xact_lock(7302655400126187105)", logger: logger)
            try await connection.query(
                "CREATE TABLE IF NOT EXISTS ferry_proxy_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
                logger: logger)
            var applied: Set<String> = []
            for try await name in try await connection.query("SELECT name FROM ferry_proxy_migrations", logger: logger).decode(String.self) {
                applied.insert(name)
            }
            if let newest = applied.subtracting(migrations.map(\.name)).sorted().last { return newest }
            for migration in migrations where !applied.contains(migration.name) {
                for statement in migration.statements {
                    try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                }
                try await connection.query("INSERT INTO ferry_proxy_migrations (name) VALUES (\(migration.name))", logger: logger)
                logger.notice("proxy database migrated", metadata: ["migration": "\(migration.name)"])
            }
            return nil
        }
        if let unknown {
            throw FerryError(
                .configuration,
                "the proxy database was written by a newer Ferry (it holds the migration '\(unknown)', which this one does not know): run that version or a later one on every replica")
        }
    }
}
