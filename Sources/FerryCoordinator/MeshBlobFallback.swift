import FerryCore
import FerryRegistry
import FerryServer
import FerryStore
import Foundation
import Logging

/// What a follower's loopback registry does for a blob the node does not hold: brings it from
/// the mesh, as an install would, and serves it as it arrives. A node's collection removes the
/// blobs of images it keeps no more (`ferry gc --keep`, the watermarks); the leader still answers
/// their tags for the node (``LeaderManifestFallback``), and without this the node's containerd
/// got the manifest from its mirror and every missing blob from the upstream.
enum MeshBlobFallback {
    /// Asks the leader's `/v2/` for the blob's size with the node credential (the leader answers
    /// only about the node's own images, and only when it holds the blob or is fetching it),
    /// announces it as arriving in `store`, and starts its transfer from the mesh (peers or the
    /// leader, as the tracker says; shared with any other download of it). The transfer goes on
    /// after the asking request ends, and the blob stays in the store as a fetched one does.
    static func meshBlobs(_ transfers: TransferClient, store: BlobStore, logger: Logger) -> RegistryReadAPI.BlobFallback {
        { _, repository, digest in
            let asked = ImageReference(registry: transfers.leaderHost, repository: repository)
            let size: Int64
            do {
                size = try await withThrowingTaskGroup(of: Int64.self) { group in
                    group.addTask { try await transfers.client.blobSize(repository: asked, digest: digest, logger: logger) }
                    group.addTask {
                        try await Task.sleep(for: LeaderManifestFallback.leaderQuestionTimeout)
                        throw FerryError(.upstreamUnreachable, "the leader did not answer about blob \(digest) in time")
                    }
                    defer { group.cancelAll() }
                    return try await group.next()!
                }
            } catch let error as FerryError where error.code == .blobUnknown {
                return nil
            }
            let blob = Descriptor(mediaType: "application/octet-stream", digest: digest, size: size)
            let arrival = "mirror \(UUID().uuidString)"
            store.expectArrivals(arrival, of: [blob])
            var logger = logger
            logger[metadataKey: "digest"] = "\(digest)"
            logger.info("fetching a blob the node's registry was asked for and no longer holds", metadata: ["size": "\(size)"])
            Task {
                defer { store.endArrivals(arrival) }
                do {
                    try await transfers.fetcher.ensure(blob, repository: repository)
                } catch {
                    logger.warning(
                        "could not fetch a blob the node's registry was asked for",
                        metadata: ["error": "\((error as? FerryError)?.message ?? "\(error)")"])
                }
            }
            return size
        }
    }
}
