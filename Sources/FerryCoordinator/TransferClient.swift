import FerryCore
import FerryMesh
import FerryPolicy
import FerryRegistry
import FerryStore
import Foundation
import Logging

/// Pulls manifests from the leader's `/v2/` API with the node credential, and blobs from the
/// mesh (``MeshFetcher``: peers or the leader, as the tracker says; once per digest).
struct TransferClient: Sendable {
    let client: RegistryClient
    let leaderHost: String
    let fetcher: MeshFetcher

    init(
        configuration: FollowerConfiguration, credential: String, nodeName: String, store: BlobStore, mesh: MeshClient, caFile: String?,
        identity: (@Sendable () -> MeshTLS.ClientIdentity)?, logger: Logger
    ) throws {
        let leader = try NodeAddress(leaderURL: configuration.leaderURL)
        var registry = RegistryClientConfiguration(retry: configuration.retry)
        if leader.scheme == .http {
            leaderHost = leader.authority
            registry.insecureRegistries = [leaderHost]
        } else {
            // The leader is reached under its reserved name, which its certificate alone holds.
            leaderHost = "\(NodeAddress.leaderName):\(leader.port)"
            registry.clusterCA = caFile
            registry.hostOverrides = [NodeAddress.leaderName: leader.host]
        }
        client = try RegistryClient(
            configuration: registry,
            credentials: RegistryCredentials([leaderHost: RegistryCredential(username: nodeName, password: credential)]))
        fetcher = try MeshFetcher(
            mesh: mesh, leaderURL: configuration.leaderURL, credential: credential, caFile: caFile, identity: identity, store: store,
            rateLimiter: configuration.maxDownloadRate.map { RateLimiter(bytesPerSecond: $0) }, logger: logger)
    }

    /// Closes the HTTP clients, once the transfers are over.
    func shutdown() async {
        try? await client.shutdown()
        await fetcher.shutdown()
    }

    /// The leader-side name of an item's repository.
    func repository(_ item: WorkItem) -> ImageReference {
        ImageReference(registry: leaderHost, repository: item.repository)
    }
}
