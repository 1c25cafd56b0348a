import FerryCore
import FerryDocker
import FerryMesh
import FerryPolicy
import Logging

/// The pull handoff overlapping the transfer (`--handoff pull`).
extension TargetRunner {
    /// Blobs pulled at once, in the manifest's order, while the engine pulls: the engine takes
    /// the layers in that order, 3 at a time (dockerd's default), and registers them one by one,
    /// so the first layers are to land first rather than every layer at the end.
    static var overlappedTransfers: Int { 4 }

    /// One step of ``transferWhilePulling(_:blobs:total:)``.
    enum OverlapStep: Sendable {
        case transferred
        case pulled(LoadOutcome)
        case pullFailed(String)
    }

    /// The pull handoff overlapping the transfer: the blobs are announced to the loopback
    /// registry, the load slot is asked for at once (the leader grants it while transferring),
    /// and the engine pulls while the blobs arrive, each by cut-through, its last byte only once
    /// verified. A pull that fails meanwhile (a blob that failed verification and was fetched
    /// again: the engine's copy broke off; or an engine that cannot reach the node's loopback,
    /// such as a follower in a container without the host's network) is followed, once every
    /// blob is held and verified, by the docker-archive load from the store, which needs no
    /// network; a failed transfer cancels the pull (the engine registers no image from an
    /// unfinished pull, and the loopback name is removed).
    func transferWhilePulling(_ image: LoadableImage, blobs: [Descriptor], total: Int64) async throws -> LoadOutcome {
        environment.expectArrivals(leaseName, of: blobs)
        defer { environment.endArrivals(leaseName) }
        return try await withThrowingTaskGroup(of: OverlapStep.self) { group in
            group.addTask {
                try await transferAndReport(blobs, total: total, inFlight: Self.overlappedTransfers)
                return .transferred
            }
            group.addTask {
                try await leader.waitForLoadSlot()
                do {
                    return .pulled(try await handOff(image, while: "pulling into the Docker engine while the blobs arrive"))
                } catch {
                    try Task.checkCancellation()
                    return .pullFailed(TargetRetry.message(error))
                }
            }
            // Both are waited for: the engine may skip layers it has, and the store is to hold
            // the whole image (the node serves it as a mirror and to peers).
            var transferred = false
            var pulled: LoadOutcome?
            var pullFailure: String?
            while let step = try await group.next() {
                switch step {
                case .transferred: transferred = true
                case .pulled(let outcome): pulled = outcome
                case .pullFailed(let message): pullFailure = message
                }
                guard transferred else { continue }
                if let pulled { return pulled }
                if let pullFailure {
                    logger.warning(
                        "the engine's pull while the blobs arrived failed; loading the image from the verified store instead",
                        metadata: ["error": "\(pullFailure)"])
                    return try await handOff(image, while: "loading into the Docker engine", archive: true)
                }
            }
            throw FerryError(.internal, "the transfer and the pull ended without an outcome")
        }
    }
}
