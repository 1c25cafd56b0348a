import FerryCore
import FerryDiagnostics
import FerryMesh
import FerryState
import FerryStore
import Logging

/// Blob events from the nodes, and the leader's answer to an accusation against its own copy.
extension LeaderMesh {
    func blobEvents(node: Int64, _ events: BlobEvents) async throws {
        guard let record = try await database.node(id: node) else { throw FerryError(.notFound, "unknown node") }
        for event in events.events where ![.receiving, .present, .gone].contains(event.kind) {
            // A stall or a cut is what an upstream stall looks like from every node, every stall
            // timeout: info; bad bytes are a warning.
            logger.log(
                level: [.stalled, .truncated].contains(event.kind) ? .info : .warning, "a node reports a source misbehaving",
                metadata: ["node": "\(record.name)", "digest": "\(event.digest)", "kind": "\(event.kind.rawValue)", "sources": "\(event.sources.prefix(8))"])
        }
        // After a restart an inventory's `present` claims count only for blobs the node is known
        // to hold: those of images it has a `done` install target for.
        let proven = events.inventory ? try await database.installedBlobs(nodeID: node) : []
        // The leader's own upstream transfer of the blob has not moved for a while: what its
        // relays' receivers report is the upstream's doing (a transfer that moves is no excuse).
        // Asked only for an accusation's blob.
        let progress = self.progress
        let checks = await tracker.record(events, from: record.name, proven: proven) { progress.hasStood($0, for: Self.upstreamStallExcuse) }
        for digest in checks { await verifyOwnCopy(digest, accuser: record.name) }
    }

    /// How long the leader's upstream transfer of a blob must have stood still for reports of
    /// stalls against relays of it to count nothing: under the receivers' 5 s stall timeout, so
    /// that the reports an upstream stall causes find it stalled.
    static let upstreamStallExcuse: Duration = .seconds(3)

    /// A node said the leader's bytes of `digest` were wrong: the leader does not take its word
    /// for it but re-hashes its own copy (the tracker allows this once per blob per
    /// `EvidenceRules.leaderCheckInterval`), and drops the copy if it is bad.
    private func verifyOwnCopy(_ digest: FerryCore.Digest, accuser: String) async {
        guard case .complete = store.availability(of: digest) else { return }
        do {
            if try await store.verify(digest) {
                logger.info("the leader's copy of a blob re-verified after an accusation", metadata: ["digest": "\(digest)", "node": "\(accuser)"])
            } else {
                FerryMetrics.countVerificationFailure()
                logger.error("the leader's copy of a blob failed verification; removed, fetching it again", metadata: ["digest": "\(digest)"])
                try store.delete(digest)
                try await database.setBlobState(digest, .missing)
                refetch(digest)
            }
        } catch {
            logger.warning("could not re-verify the leader's copy of a blob", metadata: ["digest": "\(digest)", "error": "\(error)"])
        }
    }

    /// Fetches `digest` from the upstream of an image that uses it, in the background: the
    /// followers waiting for it get the leader as a source again as soon as bytes arrive.
    private func refetch(_ digest: FerryCore.Digest) {
        Task { [database, fetcher, logger] in
            do {
                guard let source = try await database.upstreamSource(of: digest) else { return }
                try await fetcher.ensure(
                    Descriptor(mediaType: source.blob.mediaType, digest: digest, size: source.blob.size),
                    from: ImageReference(registry: source.registry, repository: source.repository))
                logger.notice("fetched a blob again after the leader's copy failed verification", metadata: ["digest": "\(digest)"])
            } catch {
                logger.warning("cannot fetch a blob again after the leader's copy failed verification", metadata: ["digest": "\(digest)", "error": "\(error)"])
            }
        }
    }
}
