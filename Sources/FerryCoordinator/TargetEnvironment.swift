import FerryCore
import FerryDocker
import FerryMesh
import Logging

/// What an install target needs from its node: the store, the Docker engine, the node's database
/// and the leader, as one interface. ``TargetRunner`` uses nothing else, so it runs in process
/// against an in-memory environment in tests, and against ``FollowerTargetEnvironment`` in a
/// follower.
protocol TargetEnvironment: Sendable {
    var logger: Logger { get }

    /// Keeps `digests` from garbage collection under `name` until ``releaseLease(_:)``.
    func lease(_ name: String, adding digests: [Digest])
    func releaseLease(_ name: String)

    /// The image manifest's exact bytes: from the node's database, or from the leader (then saved).
    func manifest(of item: WorkItem) async throws -> [UInt8]
    /// Whether the store holds the whole blob.
    func holds(_ blob: Descriptor) -> Bool
    /// Bytes of the blob held now, a download in progress included.
    func bytesHeld(_ blob: Descriptor) -> Int64
    /// Pulls the blob into the store, verified on commit; one download per digest however many
    /// targets ask, and a caller that is cancelled only stops waiting.
    func fetch(_ blob: Descriptor, repository: String) async throws
    /// Re-hashes a held blob; a corrupt one is deleted, the leader told it is gone, and `false` returned.
    func reverify(_ blob: Descriptor) async throws -> Bool
    /// The bytes of a held blob (the image config).
    func bytes(of digest: Digest) async throws -> [UInt8]

    /// Whether the handoff may start while the blobs still arrive: the engine pulls from the
    /// node's loopback registry, which waits for the blobs announced with
    /// ``expectArrivals(_:of:)`` and serves each as it lands, its last byte once verified.
    var handoffOverlapsTransfer: Bool { get }
    /// Announces the blobs the transfer is about to bring, under `name`, until ``endArrivals(_:)``.
    func expectArrivals(_ name: String, of blobs: [Descriptor])
    func endArrivals(_ name: String)

    /// Whether the engine already has the image (by its ID).
    func engineHas(_ image: LoadableImage) async throws -> Bool
    /// Loads the image into the engine (or tags it, when it is there already), by the node's
    /// handoff (`--handoff`).
    func install(_ image: LoadableImage, logger: Logger) async throws -> LoadOutcome
    /// Loads the image as a docker-archive from the store (`POST /images/load`), whatever the
    /// handoff: the fallback when the engine's pull failed.
    func load(_ image: LoadableImage, logger: Logger) async throws -> LoadOutcome
    /// Records the image as held by this node (what its garbage collection keeps).
    func recordHeld(_ item: WorkItem, manifest: ImageManifest, bytes: [UInt8], mediaType: String) async

    /// Sends a report on the target to the leader. `CONFLICT`/`NOT_FOUND`: the target is over.
    func report(target: Int64, _ report: TargetReport) async throws
    /// Asks the leader for a load slot, waiting up to `wait`. `CONFLICT`: the target is over.
    func requestLoad(target: Int64, wait: Duration) async throws -> Bool
}
