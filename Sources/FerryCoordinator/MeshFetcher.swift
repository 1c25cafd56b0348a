import AsyncHTTPClient
import FerryCore
import FerryMesh
import FerryStore
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// A follower's way of getting blobs from the mesh: ask the leader's tracker where from, pull
/// with `Range` from the best source (a peer holding or still receiving it, or the leader),
/// move on to the next source at the offset reached when one fails, and verify. Bytes that
/// fail verification are discarded and their sources reported, so the tracker stops choosing them.
///
/// One download per digest at a time, however many images need it.
actor MeshFetcher {
    private let mesh: MeshClient
    private let leaderURL: String
    private let credential: String
    private let http: HTTPClient
    private let store: BlobStore
    private let rateLimiter: RateLimiter?
    let progress = ProgressBoard()
    private let logger: Logger
    private var inflight: [Digest: Task<Void, any Error>] = [:]

    init(
        mesh: MeshClient, leaderURL: String, credential: String, caFile: String?, store: BlobStore, rateLimiter: RateLimiter?, logger: Logger
    ) throws {
        self.http = try MeshHTTP.client(caFile: caFile, readTimeout: MeshHTTP.transferStallTimeout)
        self.mesh = mesh
        self.leaderURL = leaderURL
        self.credential = credential
        self.store = store
        self.rateLimiter = rateLimiter
        self.logger = logger
    }

    /// Makes sure the store holds `blob`; concurrent calls for one digest share one download.
    func ensure(_ blob: Descriptor, repository: String) async throws {
        if store.size(of: blob.digest) == blob.size { return }
        if let task = inflight[blob.digest] { return try await task.value }
        let task = Task { try await download(blob, repository: repository) }
        inflight[blob.digest] = task
        defer { inflight[blob.digest] = nil }
        try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() }
    }

    private nonisolated func download(_ blob: Descriptor, repository: String) async throws {
        var logger = self.logger
        logger[metadataKey: "digest"] = "\(blob.digest)"
        FerryMetrics.downloadStarted()
        defer { FerryMetrics.downloadEnded() }
        var corruptions = 0
        var failed: [String] = []
        var ingest = try await store.ingest(blob.digest, expectedSize: blob.size)
        var contributors: Set<String> = []
        var announced = false
        var wait: Duration = .milliseconds(200)
        do {
            while true {
                try Task.checkCancellation()
                let have = await ingest.offset()
                if have == blob.size {
                    do {
                        try await ingest.commit()
                    } catch let error as FerryError where error.code == .digestMismatch || error.code == .sizeMismatch {
                        corruptions += 1
                        FerryMetrics.countVerificationFailure()
                        logger.warning("blob failed verification; discarded", metadata: ["sources": "\(contributors.sorted())"])
                        try? await mesh.blobEvents(BlobEvents(events: [BlobEvent(digest: blob.digest, kind: .corrupt, size: blob.size, sources: contributors.sorted())]))
                        guard corruptions < 3 else { throw error }
                        failed = Array(contributors)
                        contributors = []
                        announced = false
                        ingest = try await store.ingest(blob.digest, expectedSize: blob.size)
                        continue
                    }
                    Failpoint.followerBlobCommitted.reach()
                    progress.remove(blob.digest)
                    try? await mesh.blobEvents(BlobEvents(events: [BlobEvent(digest: blob.digest, kind: .present, size: blob.size)]))
                    return
                }
                if have > 0 { logger.info("resuming blob download", metadata: ["offset": "\(have)", "size": "\(blob.size)"]) }
                try await store.prepareDownload(of: blob.size - have, what: "blob \(blob.digest)")
                let sources = try await mesh.sources(
                    SourceRequest(digest: blob.digest, size: blob.size, have: have, repository: repository, failed: failed)).sources
                guard let source = sources.first else {
                    // Nothing can serve it yet (the leader has not started on it), or nothing
                    // can any more: if bytes came from a source that no longer has the blob (say,
                    // the leader threw away what failed verification), they are not to be trusted.
                    if !failed.isEmpty && have > 0 {
                        logger.info("no source holds the blob any more; discarding the bytes received")
                        try await ingest.reset()
                        contributors = []
                    }
                    failed = []
                    try await Task.sleep(for: wait)
                    wait = min(wait * 2, .seconds(2))
                    continue
                }
                wait = .milliseconds(200)
                if !announced {
                    // From now on this node can serve what it has to others (cut-through).
                    try? await mesh.blobEvents(BlobEvents(events: [BlobEvent(digest: blob.digest, kind: .receiving, size: blob.size, sources: [source.node])]))
                    announced = true
                }
                do {
                    contributors.insert(source.node)
                    try await fetch(blob, from: source, into: ingest, offset: have)
                    failed = []
                } catch let error as FerryError where error.code == .sizeMismatch {
                    throw error
                } catch is CancellationError {
                    throw CancellationError()
                } catch {
                    logger.info(
                        "source failed; trying another", metadata: ["source": "\(source.node)", "error": "\((error as? FerryError)?.message ?? "\(error)")"])
                    failed.append(source.node)
                }
            }
        } catch {
            progress.remove(blob.digest)
            let bad = (error as? FerryError).map { $0.code == .digestMismatch || $0.code == .sizeMismatch } ?? false
            await ingest.close(discard: bad)
            try? await mesh.blobEvents(BlobEvents(events: [BlobEvent(digest: blob.digest, kind: .gone, size: blob.size)]))
            throw error
        }
    }

    /// Streams `blob` from `source` into `ingest`, from `offset` on.
    private nonisolated func fetch(_ blob: Descriptor, from source: BlobSource, into ingest: BlobIngest, offset: Int64) async throws {
        let url = source.kind == .leader ? leaderURL + source.url : source.url
        var request = HTTPClientRequest(url: url)
        request.headers.add(name: "Authorization", value: "Bearer \(source.token ?? credential)")
        if offset > 0 { request.headers.add(name: "Range", value: "bytes=\(offset)-") }
        let response = try await http.execute(request, deadline: .now() + .hours(24))
        var have = offset
        switch response.status {
        case .ok:
            if offset > 0 {
                try await ingest.reset()
                have = 0
            }
        case .partialContent:
            guard let range = response.headers.first(name: "Content-Range").flatMap(ContentRange.init(header:)), range.start == offset else {
                throw FerryError(.upstreamError, "\(source.node) answered a resume with the wrong range")
            }
        default:
            _ = try? await response.body.collect(upTo: 64 * 1024)
            throw FerryError(.upstreamError, "\(source.node) answered HTTP \(response.status.code)")
        }
        for try await chunk in response.body {
            if let rateLimiter { try await rateLimiter.acquire(chunk.readableBytes) }
            guard have + Int64(chunk.readableBytes) <= blob.size else {
                throw FerryError(.sizeMismatch, "\(source.node) sent more than the \(blob.size) bytes of \(blob.digest)")
            }
            try await ingest.write(chunk)
            have += Int64(chunk.readableBytes)
            progress.set(blob.digest, have)
            FerryMetrics.countReceived(chunk.readableBytes, from: source.kind)
        }
        guard have == blob.size else {
            throw FerryError(.upstreamUnreachable, "the transfer from \(source.node) ended at \(have) of \(blob.size) bytes")
        }
    }
}
