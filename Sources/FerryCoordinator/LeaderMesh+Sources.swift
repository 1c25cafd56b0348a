import FerryConcurrency
import FerryCore
import FerryDiagnostics
import FerryFormats
import FerryMesh
import FerryPolicy
import FerryServer
import FerryState
import FerryStore
import Foundation
import Logging

/// Sources: where a node fetches a blob from, ranked by the tracker, with peer tokens.
extension LeaderMesh {
    /// What one sources answer needs to know of the cluster: read once per request, however many
    /// blobs it asks about.
    private struct SourcesView {
        var requester: String
        var addresses: [String: String]
        var reachable: Set<String>
        var now: Date
    }

    func sources(node: Int64, _ request: SourceRequest) async throws -> SourceList {
        FerryMetrics.countSourcesRequest(batch: false, questions: 1)
        let view = try await sourcesView(node)
        // Waiting for the leader's first byte: never nil.
        return try await sources(node: node, request, view: view, waitForLeader: true) ?? SourceList(sources: [])
    }

    /// Several requests in one: each answered as ``sources(node:_:)`` would, in order, except
    /// that a blob only the leader is about to receive is answered ``SourceAnswer/later`` (the
    /// node asks for it alone) instead of holding up the whole answer.
    func sources(node: Int64, batch: SourceBatch) async throws -> SourceBatchAnswer {
        guard batch.requests.count <= MeshAPI.maxSourceBatch else {
            throw FerryError(.invalidArgument, "\(batch.requests.count) sources requests in one batch: at most \(MeshAPI.maxSourceBatch)")
        }
        FerryMetrics.countSourcesRequest(batch: true, questions: batch.requests.count)
        let view = try await sourcesView(node)
        var answers: [SourceAnswer] = []
        answers.reserveCapacity(batch.requests.count)
        for request in batch.requests {
            do {
                if let list = try await sources(node: node, request, view: view, waitForLeader: false) {
                    answers.append(.sources(list))
                } else {
                    answers.append(.later)
                }
            } catch let error as FerryError where error.isRequestError {
                // What the single route answers with a 4xx: this request's own refusal.
                answers.append(.refused(error))
            }
        }
        return SourceBatchAnswer(answers: answers)
    }

    /// One read of the nodes: the requester, addresses and reachability.
    private func sourcesView(_ node: Int64) async throws -> SourcesView {
        let nodes = try await database.nodes()
        guard let requester = nodes.first(where: { $0.id == node }) else { throw FerryError(.notFound, "unknown node") }
        let now = Date()
        return SourcesView(
            requester: requester.name,
            addresses: Dictionary(uniqueKeysWithValues: nodes.compactMap { node in node.address.map { (node.name, $0) } }),
            reachable: Set(
                nodes.filter { $0.address != nil && InstallRules.isReachable(lastSeen: $0.lastSeen, now: now, heartbeat: MeshAPI.heartbeatInterval) }
                    .map(\.name)),
            now: now)
    }

    /// The answer to one request; nil when nothing holds the blob yet but the leader is about to
    /// fetch it and `waitForLeader` is false (with it, the answer waits up to ``sourcesWait`` for
    /// the leader's first byte).
    private func sources(node: Int64, _ request: SourceRequest, view: SourcesView, waitForLeader: Bool) async throws -> SourceList? {
        guard ImageReference.isValidRepository(request.repository) else {
            throw FerryError(.invalidReference, "invalid repository name '\(request.repository.prefix(200))'")
        }
        // Sources and peer tokens only for the content of images the node installs or holds.
        guard try await database.node(node, mayRead: request.digest) else {
            throw FerryError(.blobUnknown, "blob unknown: \(request.digest) is not in an image this node is installing or holds")
        }
        // Bytes relayed by a node that since threw its own copy away: the requester starts over
        // if it holds some (and asks again from 0; this answer is ranked for what it holds).
        let suspect = await tracker.suspectSources(view.requester, request: request)
        if !suspect.isEmpty {
            logger.info(
                "a node resuming a blob was sent bytes by sources that reported it bad since; telling it",
                metadata: ["node": "\(view.requester)", "digest": "\(request.digest)", "suspect": "\(suspect.prefix(8))"])
        }
        var ranked = await tracker.choose(for: view.requester, request: request, leader: leaderHolding(request), reachable: view.reachable)
        if ranked.isEmpty, try await leaderWillFetch(request.digest) {
            // Nobody holds it yet, but the leader is about to fetch it: answer as it starts.
            guard waitForLeader else { return nil }
            let deadline = ContinuousClock.now + Self.sourcesWait
            while true {
                let generation = store.ingestsStarted.generation
                guard leaderHolding(request) == nil else { break }
                let left = deadline - .now
                guard left > .zero, !Task.isCancelled else { break }
                await store.ingestsStarted.wait(after: generation, timeout: left)
            }
            ranked = await tracker.choose(for: view.requester, request: request, leader: leaderHolding(request), reachable: view.reachable)
        }
        let path = NodeAddress.blobPath(repository: request.repository, digest: request.digest)
        let expiry = Int64(view.now.timeIntervalSince1970) + PeerToken.lifetime
        let sources = try ranked.compactMap { candidate throws -> BlobSource? in
            switch candidate.kind {
            case .leader:
                // Relative: the follower already knows the leader's URL (its own view of it).
                return BlobSource(node: "leader", kind: .leader, url: path, token: nil)
            case .peer:
                // Addresses are checked when recorded; one recorded before that is checked here.
                guard let text = view.addresses[candidate.node], let address = try? NodeAddress(parsing: text, allowPlainHTTP: insecureMesh) else {
                    return nil
                }
                // The token names who may use it (the requester, by its client certificate) and where (that peer).
                let token = try PeerToken.sign(
                    PeerToken.Claims(node: view.requester, digest: request.digest, exp: expiry, audience: candidate.node), with: peerKey)
                return BlobSource(node: candidate.node, kind: .peer, url: address.blobURL(repository: request.repository, digest: request.digest), token: token)
            }
        }
        return SourceList(sources: sources, suspect: suspect.isEmpty ? nil : suspect)
    }

    /// What the leader holds of the blob asked for, for the tracker.
    private func leaderHolding(_ request: SourceRequest) -> Tracker.Holding? {
        switch store.availability(of: request.digest) {
        case .complete: Tracker.Holding(complete: true, size: request.size)
        case .growing: Tracker.Holding(complete: false, size: request.size)
        case .absent: nil
        }
    }

    /// Whether the leader's fetch of an image still has `digest` to fetch (not present, not failed).
    private func leaderWillFetch(_ digest: FerryCore.Digest) async throws -> Bool {
        guard let blob = try await database.blob(digest) else { return false }
        return blob.state == .missing || blob.state == .fetching
    }
}
