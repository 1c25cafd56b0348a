import FerryCore
import FerryPolicy
import FerryRegistry
import FerryServer
import FerryStore

/// Everything a follower needs to start. Defaults suit a production node.
public struct FollowerConfiguration: Sendable {
    /// Defaults, named once for the initialiser and the `ferry follower` flags.
    public static let defaultPort = 5051
    public static let defaultDockerHost = "unix:///var/run/docker.sock"
    /// How images reach the Docker engine unless `--handoff` says otherwise ([docker-handoff.md]).
    public static let defaultHandoff: Handoff = .pull

    /// Where the follower keeps its credential (`node.json`), state and store. Required.
    public var dataDirectory: String
    /// Address to listen on. Default `0.0.0.0`.
    public var host: String
    /// Port to listen on; 0 picks a free one. Default 5051.
    public var port: Int
    /// The leader's URL, e.g. `http://10.0.0.1:5050`. Required.
    public var leaderURL: String
    /// The join token; needed only until the node has joined (its credential is then kept in
    /// `node.json`). Default: none.
    public var joinToken: String?
    /// The node's name, unique in the cluster. Default: the host name.
    public var name: String
    /// The Docker engine: `unix:///var/run/docker.sock` by default.
    public var dockerHost: String
    /// The URL other nodes reach this one at. Default: derived from the listen address.
    public var advertiseURL: String?
    /// The platform this node runs. Default: the machine's.
    public var platform: Platform
    /// Images handled at the same time. Default 2.
    public var maxConcurrentImages: Int
    /// Cap on bytes per second received from the mesh. Default: unlimited.
    public var maxDownloadRate: Int64?
    /// Cap on bytes per second served to peers. Default: unlimited.
    public var maxUploadRate: Int64?
    /// Retries of transfers from the leader; a leader that is away longer is waited for.
    public var retry: RetryPolicy
    /// Store settings: reserved disk space, buffer sizes.
    public var store: BlobStoreConfiguration
    /// Automatic garbage collection: watermarks, retention, check interval.
    public var garbageCollection = GarbageCollectionConfiguration()
    /// Allow a plain-HTTP (`http://`) leader, for local development only. Default: TLS only.
    public var insecureMesh: Bool
    /// What the HTTP listener accepts from clients: idle timeout, request head size (see ``HTTPLimits``).
    public var http = HTTPLimits()
    /// The mesh protocol version sent at join and in heartbeats. Default ``FerryVersion/meshProtocol``;
    /// tests set another to see the leader's refusal.
    public var meshProtocol = FerryVersion.meshProtocol
    /// containerd's registry host directory (`/etc/containerd/certs.d`): when set, the follower
    /// runs its loopback registry and writes `DIR/<registry>/hosts.toml` for every registry its
    /// images come from, making itself containerd's mirror (``ContainerdHosts``). Default: none.
    public var containerdHostsDirectory: String? = nil
    /// Registry hosts (`host[:port]`) that speak plain HTTP: containerd's `hosts.toml` names
    /// `http://` as their upstream `server`, as it does for loopback hosts. Default: none.
    public var insecureRegistries: Set<String> = []
    /// How images reach the Docker engine: ``Handoff/load`` or ``Handoff/pull``. Default ``defaultHandoff``.
    public var handoff: Handoff = defaultHandoff
    /// The upstream the node's `/v2/` API (mesh port and loopback registry) resolves a tag or
    /// lists tags for when the request has no `?ns=`, as for the leader's `--default-registry`:
    /// lets clients that cannot add `?ns=` (skopeo, `docker pull 127.0.0.1:PORT/…`) use tags.
    /// Default: none (such a request gets `404 NAME_UNKNOWN`).
    public var defaultRegistry: String? = nil
    /// Port of the loopback registry (plain HTTP on `127.0.0.1` only, this node's images, the
    /// node credential required); 0 picks a free one. Default 0.
    public var localRegistryPort: Int = 0

    /// How a follower puts an image into its Docker engine ([docker-handoff.md]).
    public enum Handoff: String, Sendable, CaseIterable {
        /// `POST /images/load` of a docker-archive streamed from the store.
        case load
        /// `POST /images/create` from the follower's loopback registry while the blobs arrive
        /// (each by verified cut-through), then tagged under the original name and the loopback
        /// name removed.
        case pull
    }

    /// Whether the loopback registry runs: for containerd's mirror or the pull handoff.
    public var runsLocalRegistry: Bool { containerdHostsDirectory != nil || handoff == .pull }

    public init(
        dataDirectory: String,
        leaderURL: String,
        joinToken: String? = nil,
        name: String,
        host: String = "0.0.0.0",
        port: Int = defaultPort,
        dockerHost: String = defaultDockerHost,
        advertiseURL: String? = nil,
        platform: Platform = .host,
        maxConcurrentImages: Int = 2,
        maxDownloadRate: Int64? = nil,
        maxUploadRate: Int64? = nil,
        retry: RetryPolicy = RetryPolicy(),
        store: BlobStoreConfiguration = .init(),
        insecureMesh: Bool = false
    ) {
        self.insecureMesh = insecureMesh
        self.dataDirectory = dataDirectory
        self.leaderURL = leaderURL
        self.joinToken = joinToken
        self.name = name
        self.host = host
        self.port = port
        self.dockerHost = dockerHost
        self.advertiseURL = advertiseURL
        self.platform = platform
        self.maxConcurrentImages = maxConcurrentImages
        self.maxDownloadRate = maxDownloadRate
        self.maxUploadRate = maxUploadRate
        self.retry = retry
        self.store = store
    }
}
