import FerryCore
import FerryFormats
import FerryState
import Foundation
import GRDB

/// The proxy's state in SQLite (`DIR/proxy.sqlite`, its own file and migrations): apps,
/// licences (their IDs only as SHA-256), manifests' media types, the audit of pulls.
public struct ProxyDatabase: SQLiteDatabase, Sendable {
    public let writer: any DatabaseWriter

    public static let displayName = "the proxy database"

    public init(_ writer: any DatabaseWriter) throws {
        self.writer = writer
        try SQLiteFile.migrate(Self.migrator, writer, what: Self.displayName)
    }

    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("proxy-v1: apps, licences, manifests, pulls") { db in
            try db.create(table: "apps") { t in
                t.primaryKey("name", .text)
                t.column("registries", .text).notNull()
                t.column("images", .text).notNull()
                t.column("created_at", .datetime).notNull()
            }
            try db.create(table: "licences") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("hash", .text).notNull().unique()
                t.column("app", .text).notNull().references("apps", column: "name")
                t.column("customer", .text).notNull()
                t.column("images", .text).notNull()
                t.column("created_at", .datetime).notNull()
                t.column("expires_at", .datetime)
                t.column("revoked_at", .datetime)
                t.column("max_rate", .integer)
            }
            try db.create(table: "manifests") { t in
                t.primaryKey("digest", .text)
                t.column("media_type", .text).notNull()
            }
            try db.create(table: "repositories") { t in
                t.primaryKey("name", .text)
            }
            try db.create(table: "pulls") { t in
                t.autoIncrementedPrimaryKey("id")
                t.column("at", .datetime).notNull().indexed()
                t.column("licence_id", .integer).notNull().indexed()
                t.column("app", .text).notNull()
                t.column("repository", .text).notNull()
                t.column("kind", .text).notNull()
                t.column("digest", .text).notNull()
                t.column("bytes", .integer).notNull()
                t.column("status", .integer).notNull()
                t.column("client", .text).notNull()
            }
        }
        migrator.registerMigration("proxy-v2: content and tags confirmed upstream") { db in
            try db.create(table: "confirmed") { t in
                t.column("digest", .text).notNull()
                t.column("repository", .text).notNull()
                t.primaryKey(["digest", "repository"])
            }
            try db.create(table: "tags") { t in
                t.column("repository", .text).notNull()
                t.column("tag", .text).notNull()
                t.column("digest", .text).notNull()
                t.column("resolved_at", .datetime).notNull()
                t.primaryKey(["repository", "tag"])
            }
        }
        return migrator
    }
}

// MARK: Apps

extension ProxyDatabase {
    /// Adds an app, or replaces its registries and globs.
    public func putApp(_ app: ProxyApp, now: Date = Date()) async throws {
        let registries = try Self.json(app.registries)
        let images = try Self.json(app.images)
        try await writer.write { db in
            try db.execute(
                sql: """
                    INSERT INTO apps (name, registries, images, created_at) VALUES (?, ?, ?, ?)
                    ON CONFLICT(name) DO UPDATE SET registries = excluded.registries, images = excluded.images
                    """, arguments: [app.name, registries, images, now])
        }
    }

    public func app(_ name: String) async throws -> ProxyApp? {
        try await writer.read { db in try Row.fetchOne(db, sql: "SELECT * FROM apps WHERE name = ?", arguments: [name]).map(Self.appRecord) }
    }

    public func checkAvailable() async throws {
        _ = try await writer.read { db in try Int.fetchOne(db, sql: "SELECT 1") }
    }

    public func apps() async throws -> [ProxyApp] {
        try await writer.read { db in try Row.fetchAll(db, sql: "SELECT * FROM apps ORDER BY name").map(Self.appRecord) }
    }

    static func appRecord(_ row: Row) throws -> ProxyApp {
        ProxyApp(
            name: row["name"], registries: try decode([String: String].self, row["registries"]),
            images: try decode([ImageGlob].self, row["images"]))
    }
}

// MARK: Licences

extension ProxyDatabase {
    /// Records a new licence under its ID's hash and returns it.
    public func createLicence(
        hash: String, app: String, customer: String, images: [ImageGlob], expiresAt: Date?, maxRate: Int64?, now: Date = Date()
    ) async throws -> Licence {
        let imagesJSON = try Self.json(images)
        let id = try await writer.write { db -> Int64 in
            guard try Row.fetchOne(db, sql: "SELECT name FROM apps WHERE name = ?", arguments: [app]) != nil else {
                throw FerryError(.notFound, "no app '\(app)': add it first with `ferry proxy app add \(app) --registry NAME=HOST`")
            }
            try db.execute(
                sql: "INSERT INTO licences (hash, app, customer, images, created_at, expires_at, max_rate) VALUES (?, ?, ?, ?, ?, ?, ?)",
                arguments: [hash, app, customer, imagesJSON, now, expiresAt, maxRate])
            return db.lastInsertedRowID
        }
        return Licence(id: id, app: app, customer: customer, images: images, createdAt: now, expiresAt: expiresAt, maxRate: maxRate)
    }

    /// The licence whose ID hashes to `hash`.
    public func licence(hash: String) async throws -> Licence? {
        try await writer.read { db in try Row.fetchOne(db, sql: "SELECT * FROM licences WHERE hash = ?", arguments: [hash]).map(Self.licenceRecord) }
    }

    public func licence(id: Int64) async throws -> Licence? {
        try await writer.read { db in try Row.fetchOne(db, sql: "SELECT * FROM licences WHERE id = ?", arguments: [id]).map(Self.licenceRecord) }
    }

    public func licences() async throws -> [Licence] {
        try await writer.read { db in try Row.fetchAll(db, sql: "SELECT * FROM licences ORDER BY id").map(Self.licenceRecord) }
    }

    /// Revokes a licence (once: a second revoke keeps the first time).
    public func revokeLicence(id: Int64, now: Date = Date()) async throws -> Licence {
        try await writer.write { db in
            try db.execute(sql: "UPDATE licences SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?", arguments: [now, id])
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM licences WHERE id = ?", arguments: [id]) else {
                throw FerryError(.notFound, "no licence \(id); see `ferry proxy licence list`")
            }
            return try Self.licenceRecord(row)
        }
    }

    static func licenceRecord(_ row: Row) throws -> Licence {
        Licence(
            id: row["id"], app: row["app"], customer: row["customer"], images: try decode([ImageGlob].self, row["images"]),
            createdAt: row["created_at"], expiresAt: row["expires_at"], revokedAt: row["revoked_at"], maxRate: row["max_rate"])
    }
}

// MARK: Manifests, repositories, audit

/// One audited pull: a manifest or a blob sent (or refused) to a licence.
public struct PullRecord: Sendable, Hashable, Codable {
    public var at: Date
    public var licence: Int64
    public var app: String
    public var repository: String
    /// `manifest` or `blob`.
    public var kind: String
    public var digest: String
    public var bytes: Int64
    public var status: Int
    public var client: String

    public init(at: Date, licence: Int64, app: String, repository: String, kind: String, digest: String, bytes: Int64, status: Int, client: String) {
        self.at = at
        self.licence = licence
        self.app = app
        self.repository = repository
        self.kind = kind
        self.digest = digest
        self.bytes = bytes
        self.status = status
        self.client = client
    }
}

extension ProxyDatabase {
    public func recordManifest(_ digest: Digest, mediaType: String, repository: String) async throws {
        try await writer.write { db in
            try db.execute(sql: "INSERT OR IGNORE INTO manifests (digest, media_type) VALUES (?, ?)", arguments: [digest.description, mediaType])
            try db.execute(sql: "INSERT OR IGNORE INTO repositories (name) VALUES (?)", arguments: [repository])
        }
    }

    public func manifestMediaType(_ digest: Digest) async throws -> String? {
        try await writer.read { db in
            try String.fetchOne(db, sql: "SELECT media_type FROM manifests WHERE digest = ?", arguments: [digest.description])
        }
    }

    /// Repositories the proxy has served a manifest of.
    public func knownRepositories() async throws -> [String] {
        try await writer.read { db in try String.fetchAll(db, sql: "SELECT name FROM repositories ORDER BY name") }
    }

    public func confirm(_ digest: Digest, repository: String) async throws {
        try await writer.write { db in
            try db.execute(sql: "INSERT OR IGNORE INTO confirmed (digest, repository) VALUES (?, ?)", arguments: [digest.description, repository])
        }
    }

    public func isConfirmed(_ digest: Digest, repository: String) async throws -> Bool {
        try await writer.read { db in
            try Bool.fetchOne(
                db, sql: "SELECT EXISTS (SELECT 1 FROM confirmed WHERE digest = ? AND repository = ?)", arguments: [digest.description, repository])
                ?? false
        }
    }

    public func recordTag(_ tag: String, repository: String, digest: Digest, at: Date) async throws {
        try await writer.write { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO tags (repository, tag, digest, resolved_at) VALUES (?, ?, ?, ?)",
                arguments: [repository, tag, digest.description, at])
        }
    }

    public func lastTag(_ tag: String, repository: String) async throws -> (digest: Digest, at: Date)? {
        try await writer.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT digest, resolved_at FROM tags WHERE repository = ? AND tag = ?", arguments: [repository, tag]),
                let digest = try? Digest(parsing: row["digest"] as String)
            else { return nil }
            return (digest, row["resolved_at"])
        }
    }

    public func recordedTags(repository: String) async throws -> [(tag: String, digest: Digest)] {
        try await writer.read { db in
            try Row.fetchAll(db, sql: "SELECT tag, digest FROM tags WHERE repository = ? ORDER BY tag", arguments: [repository]).compactMap { row in
                (try? Digest(parsing: row["digest"] as String)).map { (row["tag"] as String, $0) }
            }
        }
    }

    public func forgetTag(_ tag: String, repository: String) async throws {
        try await writer.write { db in try db.execute(sql: "DELETE FROM tags WHERE repository = ? AND tag = ?", arguments: [repository, tag]) }
    }

    public func unconfirm(_ digest: Digest, repository: String) async throws {
        try await writer.write { db in
            try db.execute(sql: "DELETE FROM confirmed WHERE digest = ? AND repository = ?", arguments: [digest.description, repository])
        }
    }

    public func forgetRepository(_ repository: String) async throws {
        try await writer.write { db in
            try db.execute(sql: "DELETE FROM confirmed WHERE repository = ?", arguments: [repository])
            try db.execute(sql: "DELETE FROM tags WHERE repository = ?", arguments: [repository])
        }
    }

    public func recordPull(_ pull: PullRecord) async throws {
        try await writer.write { db in
            try db.execute(
                sql: "INSERT INTO pulls (at, licence_id, app, repository, kind, digest, bytes, status, client) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                arguments: [pull.at, pull.licence, pull.app, pull.repository, pull.kind, pull.digest, pull.bytes, pull.status, pull.client])
        }
    }

    /// Audited pulls since `since`, of one licence or all, oldest first.
    public func pulls(licence: Int64? = nil, since: Date = .distantPast) async throws -> [PullRecord] {
        try await writer.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM pulls WHERE at >= ? AND (? IS NULL OR licence_id = ?) ORDER BY id",
                arguments: [since, licence, licence]
            ).map { row in
                PullRecord(
                    at: row["at"], licence: row["licence_id"], app: row["app"], repository: row["repository"], kind: row["kind"],
                    digest: row["digest"], bytes: row["bytes"], status: row["status"], client: row["client"])
            }
        }
    }
}

extension ProxyDatabase {
    static func json(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func decode<T: Decodable>(_ type: T.Type, _ text: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(text.utf8))
    }
}
