import FerryCore
import FerryDocker
import FerryRegistry
import FerryServer
import FerryState
import Logging
import Synchronization

/// The follower as its node's registry mirror: tags of the node's images from its own records,
/// else one question to the leader (``LeaderManifestFallback``); containerd's `hosts.toml`
/// pointing at the loopback registry.
extension FollowerService {
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
                let hosts = ContainerdHosts(
                    registry: registry, mirrorURL: mirror, credential: credential, plainHTTP: configuration.insecureRegistries.contains(registry))
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
