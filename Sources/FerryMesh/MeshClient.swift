import FerryCore
import Foundation
import NIOHTTP1

/// A follower's client of the leader's coordination API (``MeshAPI``).
public struct MeshClient: Sendable {
    public var baseURL: String { api.baseURL }
    private let api: LeaderAPIClient

    /// A client authenticated with the node credential, trusting the cluster CA in `caFile` (nil on a plain-HTTP mesh).
    public init(baseURL: String, credential: String, caFile: String?) {
        api = LeaderAPIClient(
            baseURL: baseURL, token: credential, credentialName: "node credential",
            credentialAdvice: "the node may have been removed (`ferry nodes remove`): delete DATA_DIR/node.json on the follower and join again with a join token",
            caFile: caFile, serverErrorsAreTransient: true)
    }

    /// Joins with the join token's secret; the answer carries the node's own credential.
    public static func join(baseURL: String, joinToken: String, caFile: String?, _ request: JoinRequest) async throws -> JoinResponse {
        let api = LeaderAPIClient(
            baseURL: baseURL, token: joinToken, credentialName: "join token",
            credentialAdvice: "use a token from `ferry token create` on the leader, or its DATA_DIR/join-token", caFile: caFile)
        return try await api.call(.POST, MeshAPI.join, body: request)
    }

    public func heartbeat(_ heartbeat: Heartbeat) async throws -> HeartbeatResponse {
        try await api.call(.POST, MeshAPI.heartbeat, body: heartbeat)
    }

    /// A new certificate for the public key of a key pair this node just made.
    public func renewCertificate(_ request: CertificateRequest) async throws -> CertificateResponse {
        try await api.call(.POST, MeshAPI.certificate, body: request)
    }

    /// Where to fetch a blob from, best first (empty when nothing can serve it yet).
    public func sources(_ request: SourceRequest) async throws -> SourceList {
        try await api.call(.POST, MeshAPI.sources, body: request)
    }

    /// Sources for several blobs in one request (``MeshAPI/sourceBatch``): one answer per
    /// request, in order.
    public func sources(batch: SourceBatch) async throws -> [SourceAnswer] {
        let answer: SourceBatchAnswer = try await api.call(.POST, MeshAPI.sourceBatch, body: batch)
        guard answer.answers.count == batch.requests.count else {
            throw FerryError(
                .upstreamError, "the leader answered \(answer.answers.count) of \(batch.requests.count) sources requests (version mismatch?)")
        }
        return answer.answers
    }

    /// Tells the leader what happened to blobs here.
    public func blobEvents(_ events: BlobEvents) async throws {
        let _: Empty = try await api.call(.POST, MeshAPI.blobs, body: events)
    }

    /// Long-polls for work: returns at once when the node's targets are not exactly `known` (the
    /// ids of the last answer) or its rollout work not exactly `switches` (the items' keys), else
    /// when they change or after about `wait`.
    public func work(wait: Duration, known: [Int64] = [], switches: [String] = []) async throws -> WorkResponse {
        let seconds = max(Int(wait.components.seconds), 0)
        let list = known.prefix(MeshAPI.maxKnownTargets).map(String.init).joined(separator: ",")
        let keys = switches.prefix(MeshAPI.maxKnownTargets).joined(separator: ",")
        // `halts=1`: this node understands halt items (an older one would poll in a loop on their new key).
        let query = "?wait=\(seconds)" + (list.isEmpty ? "" : "&known=\(list)") + (keys.isEmpty ? "" : "&switches=\(keys)") + "&halts=1"
        return try await api.call(.GET, MeshAPI.work + query, timeout: wait + .seconds(15))
    }

    /// Tells the leader how this node's part of `rollout` ended.
    public func switchReport(rollout: String, _ report: SwitchReport) async throws {
        let _: Empty = try await api.call(.POST, MeshAPI.switchReport(rollout: rollout), body: report)
    }

    public func report(target: Int64, _ report: TargetReport) async throws {
        let _: Empty = try await api.call(.POST, MeshAPI.report(target: target), body: report)
    }

    /// Asks for a load slot, waiting up to `wait` for one.
    public func requestLoad(target: Int64, wait: Duration) async throws -> LoadPermit {
        let seconds = max(Int(wait.components.seconds), 0)
        return try await api.call(.POST, MeshAPI.load(target: target) + "?wait=\(seconds)", timeout: wait + .seconds(15))
    }
}
