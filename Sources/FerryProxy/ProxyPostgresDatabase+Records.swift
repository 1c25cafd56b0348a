import FerryCore
import FerryFormats
import Foundation
import PostgresNIO

// MARK: Apps

extension ProxyPostgresDatabase {
    public func putApp(_ app: ProxyApp, now: Date) async throws {
        let registries = try ProxyDatabase.json(app.registries)
        let images = try ProxyDatabase.json(app.images)
        _ = try await rows(
            "put app",
            """
            INSERT INTO apps (name, registries, images, created_at) VALUES (\(app.name), \(registries), \(images), \(now))
            ON CONFLICT (name) DO UPDATE SET registries = excluded.registries, images = excluded.images
            """)
    }

    public func app(_ name: String) async throws -> ProxyApp? {
        try await rows("app", "SELECT name, registries, images FROM apps WHERE name = \(name)").first.map(Self.appRecord)
    }

    public func apps() async throws -> [ProxyApp] {
        try await rows("apps", "SELECT name, registries, images FROM apps ORDER BY name").map(Self.appRecord)
    }

    static func appRecord(_ row: PostgresRow) throws -> ProxyApp {
        let (name, registries, images) = try row.decode((String, String, String).self)
        return ProxyApp(
            name: name, registries: try ProxyDatabase.decode([String: String].self, registries), images: try ProxyDatabase.decode([ImageGlob].self, images))
    }
}

// MARK: Licences

extension ProxyPostgresDatabase {
    static let licenceColumns = "id, app, customer, images, created_at, expires_at, revoked_at, max_rate"

    public func createLicence(
        hash: String, app: String, customer: String, images: [ImageGlob], expiresAt: Date?, maxRate: Int64?, now: Date
    ) async throws -> Licence {
        let imagesJSON = try ProxyDatabase.json(images)
        guard try await self.app(app) != nil else {
            throw FerryError(.notFound, "no app '\(app)': add it first with `ferry proxy app add \(app) --registry NAME=HOST`")
        }
        let inserted = try await rows(
            "create licence",
            """
            INSERT INTO licences (hash, app, customer, images, created_at, expires_at, max_rate)
            VALUES (\(hash), \(app), \(customer), \(imagesJSON), \(now), \(expiresAt), \(maxRate)) RETURNING id
            """)
        guard let id = try inserted.first?.decode(Int64.self) else { throw FerryError(.internal, "the proxy database returned no licence number") }
        return Licence(id: id, app: app, customer: customer, images: images, createdAt: now, expiresAt: expiresAt, maxRate: maxRate)
    }

    public func licence(hash: String) async throws -> Licence? {
        try await rows("licence", "SELECT \(unescaped: Self.licenceColumns) FROM licences WHERE hash = \(hash)").first.map(Self.licenceRecord)
    }

    public func licence(id: Int64) async throws -> Licence? {
        try await rows("licence", "SELECT \(unescaped: Self.licenceColumns) FROM licences WHERE id = \(id)").first.map(Self.licenceRecord)
    }

    public func licences() async throws -> [Licence] {
        try await rows("licences", "SELECT \(unescaped: Self.licenceColumns) FROM licences ORDER BY id").map(Self.licenceRecord)
    }

    public func revokeLicence(id: Int64, now: Date) async throws -> Licence {
        let updated = try await rows(
            "revoke licence",
            "UPDATE licences SET revoked_at = COALESCE(revoked_at, \(now)) WHERE id = \(id) RETURNING \(unescaped: Self.licenceColumns)")
        guard let row = updated.first else { throw FerryError(.notFound, "no licence \(id); see `ferry proxy licence list`") }
        return try Self.licenceRecord(row)
    }

    static func licenceRecord(_ row: PostgresRow) throws -> Licence {
        let (id, app, customer, images, createdAt, expiresAt, revokedAt, maxRate) = try row.decode(
            (Int64, String, String, String, Date, Date?, Date?, Int64?).self)
        return Licence(
            id: id, app: app, customer: customer, images: try ProxyDatabase.decode([ImageGlob].self, images), createdAt: createdAt,
            expiresAt: expiresAt, revokedAt: revokedAt, maxRate: maxRate)
    }
}

// MARK: Manifests, repositories, audit

extension ProxyPostgresDatabase {
    public func recordManifest(_ digest: Digest, mediaType: String, repository: String) async throws {
        _ = try await rows(
            "record manifest", "INSERT INTO manifests (digest, media_type) VALUES (\(digest.description), \(mediaType)) ON CONFLICT DO NOTHING")
        _ = try await rows("record repository", "INSERT INTO repositories (name) VALUES (\(repository)) ON CONFLICT DO NOTHING")
    }

    public func manifestMediaType(_ digest: Digest) async throws -> String? {
        try await rows("manifest media type", "SELECT media_type FROM manifests WHERE digest = \(digest.description)").first?.decode(String.self)
    }

    public func knownRepositories() async throws -> [String] {
        try await rows("repositories", "SELECT name FROM repositories ORDER BY name").map { try $0.decode(String.self) }
    }

    public func confirm(_ digest: Digest, repository: String) async throws {
        _ = try await rows(
            "confirm content", "INSERT INTO confirmed (digest, repository) VALUES (\(digest.description), \(repository)) ON CONFLICT DO NOTHING")
    }

    public func isConfirmed(_ digest: Digest, repository: String) async throws -> Bool {
        try await !rows(
            "confirmed content", "SELECT 1 FROM confirmed WHERE digest = \(digest.description) AND repository = \(repository)"
        ).isEmpty
    }

    public func recordTag(_ tag: String, repository: String, digest: Digest, at: Date) async throws {
        _ = try await rows(
            "record tag",
            """
            INSERT INTO tags (repository, tag, digest, resolved_at) VALUES (\(repository), \(tag), \(digest.description), \(at))
            ON CONFLICT (repository, tag) DO UPDATE SET digest = EXCLUDED.digest, resolved_at = EXCLUDED.resolved_at
            """)
    }

    public func lastTag(_ tag: String, repository: String) async throws -> (digest: Digest, at: Date)? {
        guard let row = try await rows("last tag", "SELECT digest, resolved_at FROM tags WHERE repository = \(repository) AND tag = \(tag)").first
        else { return nil }
        let (text, at) = try row.decode((String, Date).self)
        guard let digest = try? Digest(parsing: text) else { return nil }
        return (digest, at)
    }

    public func recordedTags(repository: String) async throws -> [(tag: String, digest: Digest)] {
        try await rows("recorded tags", "SELECT tag, digest FROM tags WHERE repository = \(repository) ORDER BY tag").compactMap { row in
            let (tag, text) = try row.decode((String, String).self)
            return (try? Digest(parsing: text)).map { (tag, $0) }
        }
    }

    public func forgetTag(_ tag: String, repository: String) async throws {
        _ = try await rows("forget tag", "DELETE FROM tags WHERE repository = \(repository) AND tag = \(tag)")
    }

    public func unconfirm(_ digest: Digest, repository: String) async throws {
        _ = try await rows("forget confirmation", "DELETE FROM confirmed WHERE digest = \(digest.description) AND repository = \(repository)")
    }

    public func forgetRepository(_ repository: String) async throws {
        _ = try await rows("forget repository confirmations", "DELETE FROM confirmed WHERE repository = \(repository)")
        _ = try await rows("forget repository tags", "DELETE FROM tags WHERE repository = \(repository)")
    }

    public func recordPull(_ pull: PullRecord) async throws {
        _ = try await rows(
            "record pull",
            """
            INSERT INTO pulls (at, licence_id, app, repository, kind, digest, bytes, status, client)
            VALUES (\(pull.at), \(pull.licence), \(pull.app), \(pull.repository), \(pull.kind), \(pull.digest), \(pull.bytes), \(Int64(pull.status)), \(pull.client))
            """)
    }

    public func pulls(licence: Int64?, since: Date) async throws -> [PullRecord] {
        let columns = "at, licence_id, app, repository, kind, digest, bytes, status, client"
        var query: PostgresQuery = "SELECT \(unescaped: columns) FROM pulls WHERE at >= \(since) ORDER BY id"
        if let licence {
            query = "SELECT \(unescaped: columns) FROM pulls WHERE at >= \(since) AND licence_id = \(licence) ORDER BY id"
        }
        return try await rows("pulls", query).map { row in
            let (at, licence, app, repository, kind, digest, bytes, status, client) = try row.decode(
                (Date, Int64, String, String, String, String, Int64, Int64, String).self)
            return PullRecord(
                at: at, licence: licence, app: app, repository: repository, kind: kind, digest: digest, bytes: bytes, status: Int(status), client: client)
        }
    }
}
