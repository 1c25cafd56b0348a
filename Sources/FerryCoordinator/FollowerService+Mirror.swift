import FerryCore
import FerryDocker
import FerryRegistry
import FerryServer
import FerryState
import Logging
import Synchronization

/// The follower as its node's registry mirror: tags of the node's images from its own records,
/// else one question to the leader; containerd's `hosts.toml` pointing at the loopback registry.
extension FollowerService {
    /// How long the mirror waits for the leader's answer about a manifest it has no record of.
    static let leaderQuestionTimeout: Duration = .seconds(10)

    /// Asks the leader's `/v2/` for a manifest (`?ns=<registry>`) with the node credential: the
    /// leader answers only about images the node is installing or holds. Digest and size are
    /// checked by the registry client; the answer is relayed, not kept.
    static func leaderManifests(_ transfers: TransferClient, logger: Logger) -> RegistryReadAPI.ManifestFallback {
        { registry, repository, reference in
            let digest = reference.contains(":") ? try Digest(parsing: reference) : nil
            let asked = ImageReference(registry: transfers.leaderHost, repository: repository, tag: digest == nil ? reference : nil, digest: digest)
            // A leader that is away is not waited for (the transfers' retries would): the client
            // goes to the next host in its list.
            return try await withThrowingTaskGroup(of: ManifestRecord?.self) { group in
                group.addTask {
                    do {
                        let fetched = try await transfers.client.fetchManifest(asked, namespace: registry, logger: logger)
                        return ManifestRecord(digest: fetched.digest, mediaType: fetched.mediaType, bytes: fetched.bytes)
                    } catch let error as FerryError where error.code == .manifestUnknown || error.code == .nameUnknown {
                        return nil
                    }
                }
                group.addTask {
                    try await Task.sleep(for: leaderQuestionTimeout)
                    throw FerryError(.upstreamUnreachable, "the leader did not answer about \(registry)/\(repository):\(reference) in time")
                }
                defer { group.cancelAll() }
                return try await group.next() ?? nil
            }
        }
    }

    /// The loopback registry as the Docker engine pulls from it (`127.0.0.1:PORT`, the node
    /// credential as Basic password), once it listens.
    var localRegistryForEngine: (address: String, auth: DockerClient.RegistryAuth)? {
        guard let url = localRegistryAddress.withLock({ $0 }), let credential = identity.withLock({ $0?.credential }) else { return nil }
        let address = String(url.dropFirst("http://".count))
        return (address, DockerClient.RegistryAuth(username: configuration.name, password: credential, serverAddress: address))
    }

    /// Writes containerd's `hosts.toml` for every registry this node's images come from, pointing
    /// at the loopback registry; a no-op without `--containerd-hosts-dir` or before it listens.
    /// Called when the loopback registry starts and after every install (a new registry).
    func writeContainerdHosts() async {
        guard let directory = configuration.containerdHostsDirectory, let mirror = localRegistryAddress.withLock({ $0 }),
            let credential = identity.withLock({ $0?.credential })
        else { return }
        do {
            for registry in try await database.servedRegistries() {
                let hosts = ContainerdHosts(registry: registry, mirrorURL: mirror, credential: credential)
                if try hosts.write(under: directory) {
                    logger.notice("wrote containerd's mirror configuration", metadata: ["registry": "\(registry)", "directory": "\(directory)"])
                }
            }
        } catch {
            logger.warning(
                "cannot write containerd's mirror configuration", metadata: ["error": "\((error as? FerryError)?.message ?? "\(error)")"])
        }
    }
}
