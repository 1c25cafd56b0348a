import FerryCore
import FerryMesh
import FerryServer
import FerryState
import FerryStore
import Foundation
import Logging

extension FollowerService: LocalAdminBackend {
    /// The follower's collector. Its store is a cache of what it installed: retention counts the
    /// images it holds (recorded when an install target finishes), and every running target
    /// leases its manifest and blobs. What it removes, it reports to the leader as `gone`, so that
    /// the tracker stops sending peers here for those blobs.
    var garbageCollector: GarbageCollector {
        let mesh = self.mesh
        let logger = self.logger
        return GarbageCollector(
            node: nodeName ?? configuration.name, database: database, store: store, configuration: configuration.garbageCollection,
            logger: logger,
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

    /// `ferry gc --data-dir` on this node (its local ``AdminAPI/gc`` route).
    public func collectGarbage(_ request: GarbageCollectionRequest) async throws -> GarbageCollectionReport {
        try await garbageCollector.collect(request)
    }

    /// Automatic collection at the high watermark, until graceful shutdown.
    func runGarbageCollection() async {
        await garbageCollector.run()
    }

    /// Where the follower running with `dataDirectory` listens, and its node credential: how
    /// `ferry gc --data-dir` reaches its local admin route. Nil when the directory is not a
    /// follower's (it has no `node.json`).
    public static func localAdminEndpoint(dataDirectory: String) throws(FerryError) -> (url: String, credential: String)? {
        let identityPath = "\(dataDirectory)/node.json"
        guard FileManager.default.fileExists(atPath: identityPath) else { return nil }
        guard let data = FileManager.default.contents(atPath: identityPath),
            let identity = try? JSONDecoder().decode(NodeIdentity.self, from: data)
        else {
            throw FerryError(.configuration, "cannot read '\(identityPath)'; run as the user that runs the follower")
        }
        guard let address = try? String(contentsOfFile: "\(dataDirectory)/address", encoding: .utf8), !address.trimmingWhitespace().isEmpty else {
            throw FerryError(
                .configuration,
                "no follower is running with data directory '\(dataDirectory)' (no address file); start it: garbage collection runs inside the follower, which knows which blobs are in use")
        }
        return (address.trimmingWhitespace(), identity.credential)
    }
}
