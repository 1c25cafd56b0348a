import FerryCore
import Foundation
import GRDB

extension GarbageCollection {
    /// What a collection did (or, for a dry run, would do).
    public struct Outcome: Sendable, Hashable {
        public var dryRun: Bool
        /// Images dropped by retention.
        public var images: [Image] = []
        /// Blobs removed from disk, with the bytes each freed.
        public var blobs: [Blob] = []
        /// Manifests removed.
        public var manifests: [Digest] = []
        /// Unreferenced blobs kept because they were in use, with how.
        public var inUse: [InUse] = []

        public init(dryRun: Bool) { self.dryRun = dryRun }

        /// Bytes freed (or that would be).
        public var bytes: Int64 { blobs.reduce(0) { $0 + $1.bytes } }
    }

    /// A blob collection left alone because it was in use.
    public struct InUse: Sendable, Hashable {
        public var blob: Blob
        public var reason: String
    }
}

extension FerryDatabase {
    /// Collects garbage: reads images, manifests, blobs and running installs, plans with
    /// ``GarbageCollection/plan(_:policy:)``, and applies the plan in three steps:
    ///
    /// 1. In one write transaction: read and plan (so no fetch, install or report can change what
    ///    the plan relied on in between), drop images and manifests, and for each blob to go claim
    ///    it in `store` (``CollectableStore/beginRemoval(_:)``, refused for a blob in use at that
    ///    moment, which keeps its row) and delete its row.
    /// 2. Commit.
    /// 3. Unlink the claimed blobs' files (``CollectableStore/finishRemoval(_:)``), outside the
    ///    transaction, and report what they freed.
    ///
    /// A crash between 2 and 3 leaves files without rows: orphans the next collection removes.
    /// Never a row that claims a blob present whose file went. If the transaction fails, the
    /// claims are abandoned and nothing is deleted.
    ///
    /// Images dropped by retention are deleted, or, when an install names them, kept as
    /// ``ImageState/removed`` without links or served digest (so install history still reads).
    /// A dry run plans in a read transaction and changes nothing.
    public func collectGarbage(_ policy: GarbageCollection.Policy, store: some CollectableStore, dryRun: Bool = false) async throws
        -> GarbageCollection.Outcome
    {
        if dryRun {
            return try await writer.read { db in
                let uses = store.digestsInUse()
                let input = try Self.garbageCollectionInput(db, store: store, uses: uses)
                let plan = GarbageCollection.plan(input, policy: policy)
                var outcome = GarbageCollection.Outcome(dryRun: true)
                outcome.images = plan.images
                outcome.blobs = plan.blobs.filter { $0.bytes > 0 }
                outcome.manifests = plan.manifests
                outcome.inUse = plan.inUse.map { GarbageCollection.InUse(blob: $0, reason: uses[$0.digest]?.description ?? "in use") }
                return outcome
            }
        }
        let claims = RemovalClaims()
        var outcome: GarbageCollection.Outcome
        do {
            outcome = try await writer.write { db in
                // Read what is in use before the rows: a use that starts later is caught by the claim itself.
                let uses = store.digestsInUse()
                let input = try Self.garbageCollectionInput(db, store: store, uses: uses)
                let plan = GarbageCollection.plan(input, policy: policy)
                return try Self.apply(plan, db, store: store, uses: uses, claims: claims)
            }
        } catch {
            for blob in claims.taken { store.abandonRemoval(blob.digest) }
            throw error
        }
        // Committed: the rows are gone, so the files may go.
        for blob in claims.taken {
            switch store.finishRemoval(blob.digest) {
            case .removed(let bytes):
                var removed = blob
                removed.bytes = bytes
                outcome.blobs.append(removed)
            case .absent:
                break
            case .inUse(let use):
                // Not for a claimed blob; the file stays without a row, for the next collection.
                outcome.inUse.append(GarbageCollection.InUse(blob: blob, reason: use.description))
            }
        }
        outcome.inUse.sort { $0.blob.digest < $1.blob.digest }
        return outcome
    }

    /// Records an image a follower now holds (its install finished): the row, manifest, blobs and
    /// links its garbage collection keeps. `fetched_at` is the time of the install.
    public func recordHeldImage(
        _ reference: ImageReference, platform: Platform, manifest: ManifestRecord, index: ManifestRecord? = nil, blobs: [Descriptor]
    ) async throws {
        try await writer.write { db in
            let now = Date()
            var image =
                try ImageRecord
                .filter(ImageRecord.Columns.reference == reference.description && ImageRecord.Columns.platform == platform.description)
                .fetchOne(db) ?? ImageRecord(reference: reference, platform: platform, now: now)
            // The tag's chain, top first: the index if any, then the installed manifest.
            let chain = [index, manifest].compactMap { $0 }
            for record in chain where try !ManifestRecord.exists(db, key: record.digest) {
                try record.insert(db)
            }
            for blob in blobs {
                if var row = try BlobRecord.fetchOne(db, key: blob.digest) {
                    row.state = .present
                    row.bytesDone = row.size
                    row.updatedAt = now
                    try row.update(db)
                } else {
                    try BlobRecord(digest: blob.digest, size: blob.size, mediaType: blob.mediaType, state: .present, bytesDone: blob.size, updatedAt: now)
                        .insert(db)
                }
            }
            image.topDigest = index?.digest ?? manifest.digest
            image.manifestDigest = manifest.digest
            // The node's own `/v2/` (a mirror for its containerd) serves the tag as the upstream
            // does: the index it resolved to (each client picks its platform), else this manifest.
            image.servedDigest = image.topDigest
            image.state = .present
            image.size = blobs.reduce(0) { $0 + $1.size }
            image.errorCode = nil
            image.errorMessage = nil
            image.updatedAt = now
            image.fetchedAt = now
            try image.save(db)
            let id = image.id!
            try ImageBlobRecord.filter(Column("image_id") == id).deleteAll(db)
            for (position, blob) in blobs.enumerated() {
                try ImageBlobRecord(imageId: id, digest: blob.digest, position: position).insert(db, onConflict: .ignore)
            }
            try ImageManifestRecord.filter(Column("image_id") == id).deleteAll(db)
            for (position, record) in chain.enumerated() {
                try ImageManifestRecord(imageId: id, digest: record.digest, position: position).insert(db)
            }
        }
    }

    /// The images in use: ``neededImageIDs(_:)``, and every image of the repository of a rollout
    /// not over (a rollback may return to any of them).
    static func pinnedImageIDs(_ db: Database) throws -> Set<Int64> {
        try neededImageIDs(db).union(
            try Int64.fetchAll(
                db,
                sql: """
                    SELECT i.id FROM images i JOIN rollouts r
                    ON i.registry = json_extract(r.state_json, '$.registry') AND i.repository = json_extract(r.state_json, '$.repository')
                    WHERE r.phase NOT IN ('succeeded', 'aborted', 'rolledBack')
                    """))
    }

    /// The images needed now: targeted by a running install (a rollout's new image is), or the
    /// old image of a container a rollout replaced (its rollback loads it).
    static func neededImageIDs(_ db: Database) throws -> Set<Int64> {
        Set(
            try Int64.fetchAll(
                db,
                sql: """
                    SELECT DISTINCT t.image_id FROM install_targets t JOIN installs s ON s.id = t.install_id
                    WHERE s.state = 'running'
                    UNION
                    SELECT DISTINCT b.image_id FROM image_blobs b JOIN replaced_containers r ON r.old_image_id = b.digest
                    """))
    }

    /// An image retention drops: deleted, or, when an install names it, kept as
    /// ``ImageState/removed`` without links or served digest (install history still reads).
    /// Asked for again, a removed image goes back to `pending`.
    static func release(imageID: Int64, _ db: Database, now: Date) throws {
        let named = try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM install_targets WHERE image_id = ?)", arguments: [imageID]) ?? false
        if !named {
            try db.execute(sql: "DELETE FROM images WHERE id = ?", arguments: [imageID])
            return
        }
        try db.execute(sql: "DELETE FROM image_blobs WHERE image_id = ?", arguments: [imageID])
        try db.execute(sql: "DELETE FROM image_manifests WHERE image_id = ?", arguments: [imageID])
        try db.execute(
            sql: """
                UPDATE images SET state = 'removed', served_digest = NULL, error_code = NULL, error_message = NULL, updated_at = ?
                WHERE id = ?
                """,
            arguments: [now, imageID])
    }

    static func garbageCollectionInput(_ db: Database, store: some CollectableStore, uses: [Digest: BlobUse]) throws -> GarbageCollection.Input {
        let pinned = try pinnedImageIDs(db)
        var roots: [Int64: Set<Digest>] = [:]
        for table in ["image_blobs", "image_manifests"] {
            for row in try Row.fetchAll(db, sql: "SELECT image_id, digest FROM \(table)") {
                if let digest = Digest.fromDatabaseValue(row["digest"]) { roots[row["image_id"], default: []].insert(digest) }
            }
        }
        let images = try ImageRecord.fetchAll(db).map { record in
            GarbageCollection.Image(
                id: record.id!, reference: record.reference, registry: record.registry, repository: record.repository,
                platform: record.platform, state: record.state, fetchedAt: record.fetchedAt, pinned: pinned.contains(record.id!),
                roots: roots[record.id!, default: []].union([record.topDigest, record.manifestDigest, record.servedDigest].compactMap { $0 }),
                requestedAt: record.requestedAt,
                failedForGood: record.state == .failed && record.errorCode == FerryError.Code.noMatchingPlatform.rawValue)
        }
        var manifests: [Digest: [Digest]] = [:]
        for record in try ManifestRecord.fetchAll(db) {
            manifests[record.digest] = Self.references(of: record)
        }
        var blobs: [Digest: GarbageCollection.Blob] = [:]
        for digest in try Digest.fetchAll(db, sql: "SELECT digest FROM blobs") {
            blobs[digest] = GarbageCollection.Blob(digest: digest, bytes: 0, committed: false, lastUsed: .distantPast)
        }
        for stored in store.storedBlobs() { blobs[stored.digest] = stored }
        return GarbageCollection.Input(
            images: images, manifests: manifests, blobs: blobs.values.sorted { $0.digest < $1.digest }, inUse: Set(uses.keys))
    }

    /// The manifests and blobs a manifest references; none when its bytes cannot be read (it is
    /// then kept only as long as an image names it).
    static func references(of manifest: ManifestRecord) -> [Digest] {
        switch try? ParsedManifest.decode(manifest.bytes, contentType: manifest.mediaType) {
        case .image(let image, _): image.blobs.map(\.digest)
        case .index(let index, _): index.manifests.map(\.digest)
        case nil: []
        }
    }

    /// Step 1 of a collection, inside its write transaction: drops images and manifests, claims
    /// each planned blob in `store` and deletes the rows of those claimed (or already gone).
    /// Claimed blobs go into `claims`, in plan order; the caller unlinks them after the commit.
    static func apply(
        _ plan: GarbageCollection.Plan, _ db: Database, store: some CollectableStore, uses: [Digest: BlobUse], claims: RemovalClaims
    ) throws -> GarbageCollection.Outcome {
        var outcome = GarbageCollection.Outcome(dryRun: false)
        let now = Date()
        for image in plan.images {
            try release(imageID: image.id, db, now: now)
            outcome.images.append(image)
        }
        for blob in plan.blobs {
            switch store.beginRemoval(blob.digest) {
            case nil:
                claims.add(blob)
                try db.execute(sql: "DELETE FROM blobs WHERE digest = ?", arguments: [blob.digest])
            case .absent, .removed:
                // Another collection is unlinking it (its row is stale if there is one).
                try db.execute(sql: "DELETE FROM blobs WHERE digest = ?", arguments: [blob.digest])
            case .inUse(let use):
                outcome.inUse.append(GarbageCollection.InUse(blob: blob, reason: use.description))
            }
        }
        for digest in plan.manifests {
            try db.execute(sql: "DELETE FROM manifests WHERE digest = ?", arguments: [digest])
        }
        outcome.manifests = plan.manifests
        outcome.inUse += plan.inUse.map { GarbageCollection.InUse(blob: $0, reason: uses[$0.digest]?.description ?? "in use") }
        return outcome
    }
}
