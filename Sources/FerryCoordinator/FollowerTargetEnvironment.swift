import FerryCore
import FerryDiagnostics
import FerryDocker
import FerryMesh
import FerryRegistry
import FerryState
import FerryStore
import Foundation
import Logging

/// A follower's ``TargetEnvironment``: its store, database and Docker engine, the leader's
/// `/v2/` for manifests and the mesh (``MeshFetcher``) for blobs.
struct FollowerTargetEnvironment: TargetEnvironment {
    let store: BlobStore
    let database: FerryDatabase
    let docker: DockerClient
    let mesh: MeshClient
    let transfers: TransferClient
    let platform: Platform
    let logger: Logger
    /// Called once an image is recorded held (the containerd mirror configuration follows it).
    let held: @Sendable () async -> Void
    /// With the pull handoff: the loopback registry the engine pulls from, once it listens.
    let localRegistry: @Sendable () -> (address: String, auth: DockerClient.RegistryAuth)?

    /// The target's repository (the name the engine pulls it under from the loopback registry).
    let repository: String

    init(follower: FollowerService, transfers: TransferClient, repository: String) {
        self.repository = repository
        self.store = follower.store
        self.database = follower.database
        self.docker = follower.docker
        self.mesh = follower.mesh
        self.transfers = transfers
        self.platform = follower.configuration.platform
        self.logger = follower.logger
        self.held = { [follower] in await follower.writeContainerdHosts() }
        self.localRegistry = { [follower] in follower.configuration.handoff == .pull ? follower.localRegistryForEngine : nil }
    }

    func lease(_ name: String, adding digests: [Digest]) { store.lease(name, adding: digests) }
    func releaseLease(_ name: String) { store.releaseLease(name) }

    func manifest(of item: WorkItem) async throws -> [UInt8] {
        if let saved = try await database.manifest(item.manifestDigest) { return Array(saved.bytes) }
        let fetched = try await transfers.client.fetchManifest(transfers.repository(item).with(digest: item.manifestDigest), logger: logger)
        try await database.saveManifest(ManifestRecord(digest: fetched.digest, mediaType: fetched.mediaType, bytes: fetched.bytes))
        return fetched.bytes
    }

    func holds(_ blob: Descriptor) -> Bool { store.size(of: blob.digest) == blob.size }

    func bytesHeld(_ blob: Descriptor) -> Int64 {
        transfers.fetcher.progress.value(blob.digest) ?? (holds(blob) ? blob.size : 0)
    }

    func fetch(_ blob: Descriptor, repository: String) async throws {
        try await transfers.fetcher.ensure(blob, repository: repository)
    }

    func reverify(_ blob: Descriptor) async throws -> Bool {
        // Gone since the transfer began (a re-verification the leader asked for removed it): fetched again.
        guard holds(blob) else { return false }
        do {
            if try await store.verify(blob.digest) { return true }
        } catch let error as FerryError where error.code == .blobUnknown {
            return false
        }
        try store.delete(blob.digest)
        // The tracker lists the node as holding it, and would send other nodes here for the
        // whole blob while it is fetched again.
        await transfers.fetcher.discarded(blob)
        return false
    }

    func bytes(of digest: Digest) async throws -> [UInt8] { try await store.bytes(of: digest) }

    var handoffOverlapsTransfer: Bool { localRegistry() != nil }
    func expectArrivals(_ name: String, of blobs: [Descriptor]) { store.expectArrivals(name, of: blobs) }
    func endArrivals(_ name: String) { store.endArrivals(name) }

    func engineHas(_ image: LoadableImage) async throws -> Bool {
        try await docker.inspectImage(image.imageID.description) != nil
    }

    func install(_ image: LoadableImage, logger: Logger) async throws -> LoadOutcome {
        if let registry = localRegistry() {
            return try await docker.installByPull(
                image, from: DockerClient.LocalRegistry(address: registry.address, repository: repository, auth: registry.auth), logger: logger)
        }
        return try await load(image, logger: logger)
    }

    func load(_ image: LoadableImage, logger: Logger) async throws -> LoadOutcome {
        try await docker.install(image, reader: reader, logger: logger)
    }

    /// Blobs from the store into the engine's load (with the mid-load failpoint when armed).
    private var reader: DockerArchive.BlobReader {
        let store = self.store
        guard Failpoint.followerLoadStreaming.isArmed else { return { digest, consume in try await store.read(digest, consume) } }
        return { digest, consume in
            try await store.read(digest) { chunk in
                try await consume(chunk)
                Failpoint.followerLoadStreaming.reach()
            }
        }
    }

    func recordHeld(_ item: WorkItem, manifest: ImageManifest, bytes: [UInt8], mediaType: String) async {
        do {
            let reference = try ImageReference(parsing: item.reference)
            try await database.recordHeldImage(
                reference, platform: platform,
                manifest: ManifestRecord(digest: item.manifestDigest, mediaType: mediaType, bytes: bytes), index: await index(of: item),
                blobs: manifest.blobs)
            await held()
        } catch {
            logger.warning(
                "could not record the installed image; garbage collection will not count it as held",
                metadata: ["image": "\(item.reference)", "error": "\((error as? FerryError)?.message ?? "\(error)")"])
        }
    }

    /// The index the item's reference resolved to, when it did to one that names the installed
    /// manifest: kept so that the node's mirror answers the tag as the upstream does (the index,
    /// from which each client picks its platform), not as this node's platform.
    /// Nil when there is none, or it cannot be had (the leader away, the tag moved on): the image
    /// is then recorded with the tag as the manifest, as before, rather than not at all.
    private func index(of item: WorkItem) async -> ManifestRecord? {
        guard let top = item.topDigest, top != item.manifestDigest else { return nil }
        do {
            let record: ManifestRecord
            if let saved = try await database.manifest(top) {
                record = saved
            } else {
                let fetched = try await transfers.client.fetchManifest(transfers.repository(item).with(digest: top), logger: logger)
                record = ManifestRecord(digest: fetched.digest, mediaType: fetched.mediaType, bytes: fetched.bytes)
            }
            guard case .index(let index, _) = try ParsedManifest.decode(record.bytes, contentType: record.mediaType),
                index.manifests.contains(where: { $0.digest == item.manifestDigest })
            else { return nil }
            return record
        } catch {
            logger.warning(
                "could not keep the index of the installed image; the node's mirror answers its tag with the installed manifest",
                metadata: ["image": "\(item.reference)", "index": "\(top)", "error": "\((error as? FerryError)?.message ?? "\(error)")"])
            return nil
        }
    }

    func report(target: Int64, _ report: TargetReport) async throws {
        try await mesh.report(target: target, report)
    }

    func requestLoad(target: Int64, wait: Duration) async throws -> Bool {
        try await mesh.requestLoad(target: target, wait: wait).granted
    }
}
