import FerryCore
import Foundation
import GRDB

/// Queries behind the `/v2/` read API.
extension FerryDatabase {
    public func manifest(_ digest: Digest) async throws -> ManifestRecord? {
        try await writer.read { db in try ManifestRecord.fetchOne(db, key: digest) }
    }

    /// SQL on `images`: not an image released because the store lost its blobs
    /// (``releaseImages(missing:)``), whose served digest is kept only for `--pull missing`.
    static var heldInStore: String { "NOT (state = 'failed' AND error_code = '\(missingBlobsError.code.rawValue)')" }

    /// The digest a tag of a repository resolved to at its latest completed fetch. A refetch in
    /// progress (or one that failed) does not take the tag away.
    public func digest(registry: String, repository: String, tag: String) async throws -> Digest? {
        try await writer.read { db in
            try Digest.fetchOne(
                db,
                sql: """
                    SELECT served_digest FROM images
                    WHERE registry = ? AND repository = ? AND tag = ? AND served_digest IS NOT NULL AND reference NOT LIKE '%@%' AND \(Self.heldInStore)
                    ORDER BY fetched_at DESC, id DESC LIMIT 1
                    """,
                arguments: [registry, repository, tag])
        }
    }

    /// Tags of a repository held in full, sorted; nil when the repository is unknown. A
    /// reference that pins a digest (`name:tag@digest`) does not make its tag servable, as in
    /// ``digest(registry:repository:tag:)``.
    public func tags(registry: String, repository: String) async throws -> [String]? {
        try await writer.read { db in
            let known = try Bool.fetchOne(
                db, sql: "SELECT EXISTS (SELECT 1 FROM images WHERE registry = ? AND repository = ? AND served_digest IS NOT NULL AND \(Self.heldInStore))",
                arguments: [registry, repository]) ?? false
            guard known else { return nil }
            return try String.fetchAll(
                db,
                sql: """
                    SELECT DISTINCT tag FROM images
                    WHERE registry = ? AND repository = ? AND served_digest IS NOT NULL AND tag IS NOT NULL AND reference NOT LIKE '%@%'
                    AND \(Self.heldInStore)
                    ORDER BY tag
                    """,
                arguments: [registry, repository])
        }
    }
}

extension FerryDatabase {
    /// The registries of the images held here whose tags `/v2/` serves, sorted (a follower's
    /// containerd mirror configuration).
    public func servedRegistries() async throws -> [String] {
        try await writer.read { db in
            try String.fetchAll(db, sql: "SELECT DISTINCT registry FROM images WHERE served_digest IS NOT NULL AND \(Self.heldInStore) ORDER BY registry")
        }
    }

    /// Keeps a manifest's bytes (a follower's copy of what it installs), once.
    public func saveManifest(_ manifest: ManifestRecord) async throws {
        try await writer.write { db in
            if try !ManifestRecord.exists(db, key: manifest.digest) { try manifest.insert(db) }
        }
    }
}
