import FerryCore
import Foundation
import GRDB

/// What resolving an image produced, to record in one transaction.
public struct ImageResolution: Sendable {
    public var topDigest: Digest
    public var manifestDigest: Digest
    public var platform: Platform?
    /// Every manifest from the top to the image manifest.
    public var manifests: [ManifestRecord]
    /// Config and layers, config first, each once.
    public var blobs: [Descriptor]
    /// Why the held digest was used instead of the upstream's answer; nil when the upstream answered.
    public var warning: String?

    public init(
        topDigest: Digest, manifestDigest: Digest, platform: Platform?, manifests: [ManifestRecord], blobs: [Descriptor], warning: String? = nil
    ) {
        self.warning = warning
        self.topDigest = topDigest
        self.manifestDigest = manifestDigest
        self.platform = platform
        self.manifests = manifests
        self.blobs = blobs
    }
}

extension FerryDatabase {
    /// Records a request to fetch `reference` for `platform`: a new image in `pending`, or the
    /// existing one set back to `pending` so that its tag is resolved again (under `pull`).
    public func requestImage(_ reference: ImageReference, platform: Platform, pull: PullPolicy = .default) async throws -> ImageRecord {
        try await writer.write { db in
            let now = Date()
            if var existing = try ImageRecord
                .filter(ImageRecord.Columns.reference == reference.description && ImageRecord.Columns.platform == platform.description)
                .fetchOne(db)
            {
                // When it was last asked for (garbage collection keeps the newest attempt).
                existing.requestedAt = now
                if existing.state != .fetching {
                    existing.askAgain(now: now)
                    existing.pullPolicy = pull
                }
                try existing.update(db)
                return existing
            }
            var record = ImageRecord(reference: reference, platform: platform, now: now)
            record.pullPolicy = pull
            try record.insert(db)
            return record
        }
    }

    /// Stores what an image resolved to: its manifests, its blobs (new ones as `missing`), and
    /// the links between them; the image moves to `fetching`.
    public func recordResolution(imageID: Int64, _ resolution: ImageResolution) async throws {
        try await writer.write { db in
            guard var image = try ImageRecord.fetchOne(db, key: imageID) else { return }
            let now = Date()
            for manifest in resolution.manifests where try !ManifestRecord.exists(db, key: manifest.digest) {
                try manifest.insert(db)
            }
            for descriptor in resolution.blobs where try !BlobRecord.exists(db, key: descriptor.digest) {
                try BlobRecord(digest: descriptor.digest, size: descriptor.size, mediaType: descriptor.mediaType, updatedAt: now).insert(db)
            }
            try ImageBlobRecord.filter(Column("image_id") == imageID).deleteAll(db)
            for (position, descriptor) in resolution.blobs.enumerated() {
                try ImageBlobRecord(imageId: imageID, digest: descriptor.digest, position: position).insert(db)
            }
            try ImageManifestRecord.filter(Column("image_id") == imageID).deleteAll(db)
            for (position, manifest) in resolution.manifests.enumerated() {
                try ImageManifestRecord(imageId: imageID, digest: manifest.digest, position: position).insert(db, onConflict: .ignore)
            }
            image.topDigest = resolution.topDigest
            image.manifestDigest = resolution.manifestDigest
            image.resolvedPlatform = resolution.platform?.description
            image.size = resolution.blobs.reduce(0) { $0 + $1.size }
            image.state = .fetching
            image.errorCode = nil
            image.errorMessage = nil
            image.warning = resolution.warning
            image.updatedAt = now
            try image.update(db)
            // Every target of the image has had a resolution now: a later one that fails leaves it be.
            try InstallTargetRecord.filter(InstallTargetRecord.Columns.imageId == imageID && InstallTargetRecord.Columns.resolved == false)
                .updateAll(db, InstallTargetRecord.Columns.resolved.set(to: true))
            if let warning = resolution.warning {
                // Kept with every running install of the image, which shows it in its status.
                let installs = try InstallRecord.fetchAll(
                    db,
                    sql: """
                        SELECT DISTINCT installs.* FROM installs JOIN install_targets ON install_targets.install_id = installs.id
                        WHERE install_targets.image_id = ? AND installs.state = ?
                        """,
                    arguments: [imageID, InstallState.running.rawValue])
                for var install in installs where !(install.warnings ?? "").split(separator: "\n").contains(Substring(warning)) {
                    install.warnings = [install.warnings, warning].compactMap { $0 }.joined(separator: "\n")
                    try install.update(db)
                }
            }
        }
    }

    /// Marks an image present, but only if every blob it uses is present.
    /// Returns whether it did. `resolvedUpstream` false (a held digest was used) keeps the time
    /// of the last fetch that asked the upstream.
    @discardableResult
    public func markImagePresent(imageID: Int64, resolvedUpstream: Bool = true) async throws -> Bool {
        try await writer.write { db in
            guard var image = try ImageRecord.fetchOne(db, key: imageID) else { return false }
            let notPresent = try Int.fetchOne(
                db,
                sql: "SELECT COUNT(*) FROM image_blobs JOIN blobs USING (digest) WHERE image_id = ? AND blobs.state != 'present'",
                arguments: [imageID]) ?? 0
            guard notPresent == 0, image.manifestDigest != nil else { return false }
            let now = Date()
            image.state = .present
            image.servedDigest = image.topDigest
            image.errorCode = nil
            image.errorMessage = nil
            image.updatedAt = now
            if resolvedUpstream || image.fetchedAt == nil { image.fetchedAt = now }
            try image.update(db)
            return true
        }
    }

    /// Marks an image failed and, in the same transaction, fails its unfinished targets in
    /// running installs with `targetError` (nil: `error`).
    ///
    /// When the image failed while its tag was resolved again (`pending`) and the leader holds
    /// its last resolution whole (every linked blob `present`), only the targets still waiting
    /// for a resolution fail: those of the installs that asked for this one. A target that had a
    /// resolution (``InstallTargetRecord/resolved``: a node may be loading it) goes on with the
    /// held digests, which the image's links keep. Anything else (a blob that could not be
    /// fetched, a first resolution) fails every unfinished target.
    @discardableResult
    public func markImageFailed(imageID: Int64, error: FerryError, targetError: FerryError? = nil) async throws -> ImageFailureOutcome {
        try await writer.write { db in
            guard var image = try ImageRecord.fetchOne(db, key: imageID) else { return ImageFailureOutcome(failed: 0, spared: 0) }
            let holdsLastResolution = try image.state == .pending && image.manifestDigest != nil && Self.holdsEveryBlob(ofImage: imageID, db: db)
            image.state = .failed
            image.errorCode = error.code.rawValue
            image.errorMessage = error.message
            image.updatedAt = Date()
            try image.update(db)
            let unfinished = try FerryDatabase.ofRunningInstalls(
                InstallTargetRecord.filter(InstallTargetRecord.Columns.imageId == imageID && TargetState.unfinished.contains(InstallTargetRecord.Columns.state)),
                db: db)
            let spared = holdsLastResolution ? try unfinished.filter(InstallTargetRecord.Columns.resolved == true).fetchCount(db) : 0
            let failing = holdsLastResolution ? unfinished.filter(InstallTargetRecord.Columns.resolved == false) : unfinished
            let failed = try FerryDatabase.applyToAll(.imageFailed(targetError ?? error), failing, db: db)
            return ImageFailureOutcome(failed: failed, spared: spared)
        }
    }

    /// Whether the image has linked blobs and every one is `present`.
    static func holdsEveryBlob(ofImage imageID: Int64, db: Database) throws -> Bool {
        let counts = try Row.fetchOne(
            db,
            sql: "SELECT COUNT(*), COALESCE(SUM(blobs.state != 'present'), 0) FROM image_blobs JOIN blobs USING (digest) WHERE image_id = ?",
            arguments: [imageID])
        guard let counts else { return false }
        let linked: Int = counts[0]
        let missing: Int = counts[1]
        return linked > 0 && missing == 0
    }

    /// Images a restarted leader must finish: `pending` or `fetching`.
    public func unfinishedImages() async throws -> [ImageRecord] {
        try await writer.read { db in
            try ImageRecord.filter([ImageState.pending, ImageState.fetching].contains(ImageRecord.Columns.state))
                .order(ImageRecord.Columns.id).fetchAll(db)
        }
    }

    public func images() async throws -> [ImageRecord] {
        try await writer.read { db in try ImageRecord.order(ImageRecord.Columns.id).fetchAll(db) }
    }

    public func image(id: Int64) async throws -> ImageRecord? {
        try await writer.read { db in try ImageRecord.fetchOne(db, key: id) }
    }

    /// The blobs an image uses, in manifest order.
    public func blobs(ofImage imageID: Int64) async throws -> [BlobRecord] {
        try await writer.read { db in
            try BlobRecord.fetchAll(
                db,
                sql: "SELECT blobs.* FROM image_blobs JOIN blobs USING (digest) WHERE image_id = ? ORDER BY position",
                arguments: [imageID])
        }
    }
}
