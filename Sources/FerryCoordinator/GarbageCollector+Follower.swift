import FerryCore
import FerryMesh
import FerryState
import FerryStore
import Logging

extension GarbageCollector {
    /// A follower's collector. Its store is a cache of what it installed: retention counts the
    /// images it holds (recorded when an install target finishes), and every running target
    /// leases its manifest and blobs. What it removes, it reports to the leader as `gone`, so that
    /// the tracker stops sending peers here for those blobs.
    static func follower(
        node: String, database: FerryDatabase, store: BlobStore, configuration: GarbageCollectionConfiguration, mesh: MeshClient,
        logger: Logger
    ) -> GarbageCollector {
        GarbageCollector(
            node: node, database: database, store: store, configuration: configuration, logger: logger,
            removed: { removed in
                let events = removed.sorted { $0.key < $1.key }.map { BlobEvent(digest: $0.key, kind: .gone, size: $0.value) }
                do {
                    try await mesh.blobEvents(BlobEvents(events: events))
                } catch {
                    // The tracker may still send a peer here; the peer then fails over to another source.
                    logger.warning(
                        "could not tell the leader about removed blobs",
                        metadata: ["blobs": "\(events.count)", "error": "\((error as? FerryError)?.message ?? "\(error)")"])
                }
            })
    }
}
