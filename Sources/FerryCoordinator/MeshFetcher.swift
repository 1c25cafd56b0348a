import AsyncHTTPClient
import FerryCore
import FerryDiagnostics
import FerryMesh
import FerryPolicy
import FerryStore
import FerryTransfer
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// A follower's way of getting blobs from the mesh: ask the leader's tracker where from, pull
/// with `Range` from the best source (a peer holding or still receiving it, or the leader),
/// move on to the next source at the offset reached when one fails, and verify. The decisions
/// are ``MeshDownload``'s; this actor performs them.
///
/// One download per digest at a time, however many images need it; a caller that is cancelled
/// stops waiting while the download goes on for the others.
actor MeshFetcher {
    /// Blob events to the leader, coalesced while one is in flight.
    private let events: BlobEventBatcher
    /// Sources requests to the leader, coalesced while one is in flight.
    let sources: SourceBatcher
    /// Where requests to the leader go (its reserved name over TLS, see ``MeshHTTP/leaderURL(_:)``).
    private let leaderBase: String
    private let plainHTTP: Bool
    private let credential: String
    /// To the leader (its certificate required) and to peers (this node's certificate presented).
    private let leaderHTTP: HTTPClient
    private let caFile: String?
    /// This node's certificate files as of now: a renewal makes a new peer client.
    private let identity: (@Sendable () -> MeshTLS.ClientIdentity)?
    private let store: BlobStore
    private let rateLimiter: RateLimiter?
    let progress = ProgressBoard()
    private let logger: Logger
    private let flights = SingleFlight<Digest, Void>()

    init(
        mesh: MeshClient, leaderURL: String, credential: String, caFile: String?, identity: (@Sendable () -> MeshTLS.ClientIdentity)?,
        store: BlobStore,
        rateLimiter: RateLimiter?, logger: Logger
    ) throws {
        let leader = try NodeAddress(leaderURL: leaderURL)
        self.leaderHTTP = try MeshHTTP.client(caFile: caFile, leader: leader, readTimeout: MeshHTTP.transferStallTimeout)
        self.caFile = caFile
        self.identity = identity
        _ = try MeshHTTP.client(caFile: caFile, identity: identity?(), readTimeout: MeshHTTP.transferStallTimeout)
        self.leaderBase = MeshHTTP.leaderURL(leader)
        self.plainHTTP = leader.scheme == .http
        self.events = BlobEventBatcher { [mesh] events in try await mesh.blobEvents(BlobEvents(events: events)) }
        self.sources = SourceBatcher(batch: { [mesh] batch in try await mesh.sources(batch: batch) }, alone: { [mesh] request in try await mesh.sources(request) })
        self.credential = credential
        self.store = store
        self.rateLimiter = rateLimiter
        self.logger = logger
    }

    /// Cancels the downloads in flight, waits until each has closed its ingest, then closes the
    /// HTTP client. Call once, when the fetcher is no longer used.
    func shutdown() async {
        await flights.cancelAll()
        try? await leaderHTTP.shutdown()
        if let client = try? peerHTTP() { try? await client.shutdown() }
    }

    /// The client for peers, presenting this node's current certificate.
    private nonisolated func peerHTTP() throws(FerryError) -> HTTPClient {
        try MeshHTTP.client(caFile: caFile, identity: identity?(), readTimeout: MeshHTTP.transferStallTimeout)
    }

    /// Makes sure the store holds `blob`; concurrent calls for one digest share one download.
    func ensure(_ blob: Descriptor, repository: String) async throws {
        if store.size(of: blob.digest) == blob.size { return }
        try await flights.run(blob.digest) { [self] in
            if store.size(of: blob.digest) == blob.size { return }
            try await download(blob, repository: repository)
        }
    }

    private nonisolated func download(_ blob: Descriptor, repository: String) async throws {
        var logger = self.logger
        logger[metadataKey: "digest"] = "\(blob.digest)"
        FerryMetrics.downloadStarted()
        defer { FerryMetrics.downloadEnded() }
        var machine = MeshDownload(digest: blob.digest, size: blob.size)
        var restarting = false
        do {
            // One ingest per attempt, closed whatever happens (the partial kept unless its bytes
            // are bad); a restart discards it and opens a fresh one.
            repeat {
                restarting = try await store.withIngest(blob.digest, expectedSize: blob.size) { ingest async throws -> Bool in
                    var action = restarting ? machine.restarted() : machine.started(held: await ingest.offset())
                    while true {
                        try Task.checkCancellation()
                        switch action {
                        case .commit:
                            do {
                                try await ingest.commit()
                                action = machine.committed()
                            } catch let error as FerryError where BlobStore.bytesAreBad(error) {
                                FerryMetrics.countVerificationFailure()
                                logger.warning("blob failed verification; discarded", metadata: ["sources": "\(machine.contributors.sorted())"])
                                action = machine.verificationFailed()
                            }
                        case .askSources(let have, let failed):
                            if have > 0 { logger.info("resuming blob download", metadata: ["offset": "\(have)", "size": "\(blob.size)"]) }
                            try await store.prepareDownload(of: blob.size - have, what: "blob \(blob.digest)", digest: blob.digest)
                            let answer = try await sources.sources(
                                SourceRequest(digest: blob.digest, size: blob.size, have: have, repository: repository, failed: failed))
                            action = machine.answered(answer.sources, have: have, random: Double.random(in: 0...1), suspect: answer.suspect ?? [])
                        case .discard:
                            logger.info("part of the bytes received came from a source that reported the blob bad itself; discarding them")
                            try await ingest.reset()
                            action = machine.discarded()
                        case .wait(let delay, let discard):
                            if discard {
                                logger.info("no source holds the blob any more; discarding the bytes received")
                                try await ingest.reset()
                            }
                            try await Task.sleep(for: delay)
                            action = machine.waited(have: await ingest.offset())
                        case .fetch(let source, let offset, let announce):
                            if announce {
                                // From now on this node can serve what it has to others (cut-through).
                                await events.post([BlobEvent(digest: blob.digest, kind: .receiving, size: blob.size, sources: [source.node])])
                                logger.info("receiving blob", metadata: ["source": "\(source.node)", "offset": "\(offset)", "size": "\(blob.size)"])
                            }
                            let outcome = try await fetch(blob, repository: repository, from: source, into: ingest, offset: offset)
                            let failure: (kind: SourceFailure, reason: String)? =
                                switch outcome {
                                case .failed(let reason): (.failed, reason)
                                case .stalled(let reason): (.stalled, reason)
                                case .truncated(let reason): (.truncated, reason)
                                case .complete, .overflow: nil
                                }
                            if let failure {
                                FerryMetrics.countSourceFailure(failure.kind)
                                logger.info(
                                    "source failed; trying another",
                                    metadata: ["source": "\(source.node)", "kind": "\(failure.kind.rawValue)", "error": "\(failure.reason)"])
                            }
                            action = machine.fetched(from: source, outcome, have: await ingest.offset())
                        case .accuse(let kind, let source):
                            // First-hand: this node saw the source stall or break off (docs/mesh.md, Failures).
                            await events.post([BlobEvent(digest: blob.digest, kind: kind, size: blob.size, sources: [source])])
                            action = machine.accused()
                        case .restart(let accused, let kind):
                            await events.post([BlobEvent(digest: blob.digest, kind: kind, size: blob.size, sources: accused)])
                            await ingest.close(discard: true)
                            return true
                        case .succeed:
                            return false
                        case .fail(let error):
                            throw error
                        }
                    }
                }
            } while restarting
            Failpoint.followerBlobCommitted.reach()
            logger.info("blob verified", metadata: ["size": "\(blob.size)"])
            progress.remove(blob.digest)
            await events.post([BlobEvent(digest: blob.digest, kind: .present, size: blob.size)])
        } catch {
            progress.remove(blob.digest)
            await events.post([BlobEvent(digest: blob.digest, kind: .gone, size: blob.size)])
            throw error
        }
    }

    /// Tells the leader the node no longer holds `blob` (it found its copy damaged and deleted it).
    func discarded(_ blob: Descriptor) async {
        await discarded(blob.digest, size: blob.size)
    }

    /// The node no longer holds `digest` (of `size` bytes): the leader is told, in order with the
    /// node's other blob events.
    func discarded(_ digest: Digest, size: Int64) async {
        await events.post([BlobEvent(digest: digest, kind: .gone, size: size)])
    }

    /// Streams `blob` from `source` into `ingest`, from `offset` on. What the source did wrong is
    /// the outcome; only the store's own errors and cancellation are thrown.
    private nonisolated func fetch(
        _ blob: Descriptor, repository: String, from source: BlobSource, into ingest: BlobIngest, offset: Int64
    ) async throws -> MeshDownload.FetchOutcome {
        let url: String
        do {
            url = try source.fetchURL(repository: repository, digest: blob.digest, leaderBase: leaderBase, allowPlainHTTP: plainHTTP)
        } catch {
            return .failed(error.message)
        }
        let http: HTTPClient
        do {
            http = source.kind == .leader ? leaderHTTP : try peerHTTP()
        } catch {
            return .failed(error.message)
        }
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Authorization", value: "Bearer \(source.token ?? credential)")
        if offset > 0 { request.headers.add(name: "Range", value: "bytes=\(offset)-") }
        let sink = IngestSink(ingest: ingest)
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, deadline: .now() + .hours(24))
        } catch {
            try Task.checkCancellation()
            let problem = TransportProblem(error)
            if problem == .timedOut { return .stalled("\(source.node) answered nothing for \(MeshHTTP.transferStallTimeout)") }
            return .failed(problem?.description ?? "the request failed")
        }
        switch try await RangedDownload.start(status: response.status, headers: response.headers, offset: offset, size: blob.size, sink: sink) {
        case .success:
            break
        case .failure(let refusal):
            _ = try? await response.body.collect(upTo: 64 * 1024)
            switch refusal {
            case .status(let code): return .failed("\(source.node) answered HTTP \(code)")
            case .wrongRange, .rangeNotSatisfiable: return .failed("\(source.node) answered a resume with the wrong range")
            }
        }
        // A peer must keep sending (a lying one dripping a byte every few seconds would hold the
        // blob for hours); the leader is as slow as its upstream, and trusted.
        let floor = source.kind == .leader ? nil : ProgressFloor.peer(receivingAtMost: rateLimiter?.rate)
        let outcome = try await RangedDownload.receive(
            response.body, into: sink, from: await ingest.offset(), size: blob.size, rateLimiter: rateLimiter, floor: floor
        ) { chunk, held in
            progress.set(blob.digest, held)
            FerryMetrics.countReceived(chunk, from: source.kind)
        }
        switch outcome {
        case .complete: return .complete
        case .overflow: return .overflow
        case .broke(let at, .timedOut?):
            return .stalled("the transfer from \(source.node) stalled at \(at) of \(blob.size) bytes")
        case .tooSlow(let at):
            let floor = floor ?? ProgressFloor.peer(receivingAtMost: rateLimiter?.rate)
            return .stalled("\(source.node) sent fewer than \(floor.minimum / 1024) KiB in \(floor.window), at \(at) of \(blob.size) bytes")
        case .broke(let at, let problem):
            return .truncated("the transfer from \(source.node) broke off at \(at) of \(blob.size) bytes: \(problem?.description ?? "stream failed")")
        case .endedEarly(let at):
            return .truncated("the transfer from \(source.node) ended at \(at) of \(blob.size) bytes")
        }
    }
}
