import FerryCore
import FerryRegistry
import FerryServer
import FerryState
import Logging

/// What a follower's registry (mesh and loopback) answers for a manifest it has no record of:
/// one question to the leader.
enum LeaderManifestFallback {
    /// How long the mirror waits for the leader's answer about a manifest it has no record of.
    static let leaderQuestionTimeout: Duration = .seconds(10)

    /// Asks the leader's `/v2/` for a manifest (`?ns=<registry>` when known) with the node credential: the
    /// leader answers only about images the node is installing or holds. Digest and size are
    /// checked by the registry client; the answer is relayed, not kept.
    static func leaderManifests(_ transfers: TransferClient, logger: Logger) -> RegistryReadAPI.ManifestFallback {
        { registry, repository, reference in
            let digest = reference.contains(":") ? try Digest(parsing: reference) : nil
            let asked = ImageReference(registry: transfers.leaderHost, repository: repository, tag: digest == nil ? reference : nil, digest: digest)
            // A leader that is away is not waited for (the transfers' retries would): the client
            // goes to the next host in its list.
            return try await askLeader(about: "\(registry.map { "\($0)/" } ?? "")\(repository):\(reference)") {
                do {
                    let fetched = try await transfers.client.fetchManifest(asked, namespace: registry, logger: logger)
                    return ManifestRecord(digest: fetched.digest, mediaType: fetched.mediaType, bytes: fetched.bytes)
                } catch let error as FerryError where error.code == .manifestUnknown || error.code == .nameUnknown {
                    return nil
                }
            }
        }
    }

    /// `question`'s answer, or ``FerryError/Code/upstreamUnreachable`` once
    /// ``leaderQuestionTimeout`` has passed (the question is then cancelled): what a follower's
    /// registry asks the leader on a client's behalf (manifests, and blobs' sizes).
    static func askLeader<T: Sendable>(about what: String, _ question: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T.self) { group in
            group.addTask(operation: question)
            group.addTask {
                try await Task.sleep(for: leaderQuestionTimeout)
                throw FerryError(.upstreamUnreachable, "the leader did not answer about \(what) in time")
            }
            defer { group.cancelAll() }
            return try await group.next()!
        }
    }
}
