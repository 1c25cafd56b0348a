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
        logger: Logger
    ) throws {
        guard let url = URL(string: configuration.leaderURL), let host = url.host else {
            throw FerryError(.configuration, "invalid leader URL '\(configuration.leaderURL)'")
        }
        leaderHost = url.port.map { "\(host):\($0)" } ?? host
        var registry = RegistryClientConfiguration(retry: configuration.retry)
        if url.scheme == "http" { registry.insecureRegistries = [leaderHost] } else { registry.clusterCA = caFile }
        client = try RegistryClient(
            configuration: registry,
            credentials: RegistryCredentials([leaderHost: RegistryCredential(username: nodeName, password: credential)]))
        fetcher = try MeshFetcher(
            mesh: mesh, leaderURL: configuration.leaderURL, credential: credential, caFile: caFile, store: store,
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
