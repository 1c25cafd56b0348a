import FerryCore
import FerryPolicy
import FerryRegistry
import FerryServer
import FerryStore

/// Everything a leader needs to start. Defaults suit a production leader.
public struct LeaderConfiguration: Sendable {
    /// Defaults, named once for the initialiser and the `ferry leader` flags.
    public static let defaultPort = 5050
    public static let defaultDownloadsPerRegistry = 4
    public static let defaultSerialDownloadSize: Int64 = 16 << 20
    public static let defaultBlobConnections = 1

    /// Where the leader keeps its state (`state.db`), store (`store/`) and tokens. Required.
    public var dataDirectory: String
    /// Address to listen on. Default `0.0.0.0`.
    public var host: String
    /// Port to listen on; 0 picks a free one. Default 5050.
    public var port: Int
    /// A Docker `config.json`-style file of upstream credentials. Default: none (anonymous).
    public var registryAuthFile: String?
    /// The upstream the `/v2/` API uses when a request has no `?ns=`. Default: none.
    public var defaultRegistry: String?
    /// The platform fetched when a request names none. Default: the leader's own.
    public var platform: Platform
    /// Blob downloads in flight per upstream registry. Default 4.
    public var maxConcurrentDownloadsPerRegistry: Int
    /// Blobs at least this large are downloaded alone (taking every download slot of their
    /// registry), one after the other in layer order, so the engines unpack each while the next
    /// arrives; 0: never. Default 16 MiB (`--serial-download-size`).
    public var serialDownloadSize: Int64 = defaultSerialDownloadSize
    /// Connections one such large blob is downloaded over at once, in pieces of 8 MiB taken in
    /// order (``PiecedDownload``; at most `maxConcurrentDownloadsPerRegistry`), for an upstream
    /// that caps each connection below the link (storage behind a registry, a long lossy path).
    /// Default 1: one connection, which fills a link it alone uses (`--blob-connections`).
    public var blobConnections: Int = defaultBlobConnections
    /// Upstream client settings: insecure registries, CA file, retries, rate limit.
    public var registry: RegistryClientConfiguration
    /// Store settings: reserved disk space, buffer sizes.
    public var store: BlobStoreConfiguration
    /// How the tracker chooses sources for followers (peers on, upload slots).
    public var sources: SourceSelector
    /// Cap on bytes per second the leader serves to followers. Default: unlimited.
    public var maxUploadRate: Int64?
    /// Automatic garbage collection: watermarks, retention, check interval.
    public var garbageCollection = GarbageCollectionConfiguration()
    /// What the HTTP listener accepts from clients: idle timeout, request head size (see ``HTTPLimits``).
    public var http = HTTPLimits()
    /// Serve plain HTTP instead of TLS, for local development only. Default: TLS.
    public var insecureMesh: Bool
    /// Extra names (DNS or IP) for the leader's TLS certificate, besides the host name and the
    /// listen address. Default: none.
    public var tlsNames: [String]
    /// How long the node certificates the leader issues are valid; followers renew theirs after
    /// two thirds of it (`--node-cert-validity`). Default: ``defaultNodeCertificateValidity``.
    public var nodeCertificateValidity: Duration = defaultNodeCertificateValidity
    /// A year.
    public static let defaultNodeCertificateValidity: Duration = .seconds(365 * 24 * 3600)
    /// The shortest `--node-cert-validity` (tests use tens of seconds).
    public static let minimumNodeCertificateValidity: Duration = .seconds(20)
    /// How long, in all, a node may hold an install's load slots without finishing before the
    /// leader takes them back (``InstallRules/loadLease(imageSizes:minimum:)``: longer for images
    /// too large to load in that time at 2 MiB/s, and for many images); the node may take a free
    /// slot again, and gives it up to any node that asks (`--load-slot-lease`).
    /// Default: ``defaultLoadSlotLease``.
    public var loadSlotLease: Duration = defaultLoadSlotLease
    /// Ten minutes.
    public static let defaultLoadSlotLease: Duration = .seconds(600)
    /// The shortest `--load-slot-lease` (tests use seconds).
    public static let minimumLoadSlotLease: Duration = .seconds(2)

    public init(
        dataDirectory: String,
        host: String = "0.0.0.0",
        port: Int = defaultPort,
        registryAuthFile: String? = nil,
        defaultRegistry: String? = nil,
        platform: Platform = .host,
        maxConcurrentDownloadsPerRegistry: Int = defaultDownloadsPerRegistry,
        registry: RegistryClientConfiguration = .init(),
        store: BlobStoreConfiguration = .init(),
        sources: SourceSelector = .init(),
        maxUploadRate: Int64? = nil,
        insecureMesh: Bool = false,
        tlsNames: [String] = []
    ) {
        self.insecureMesh = insecureMesh
        self.tlsNames = tlsNames
        self.sources = sources
        self.maxUploadRate = maxUploadRate
        self.dataDirectory = dataDirectory
        self.host = host
        self.port = port
        self.registryAuthFile = registryAuthFile
        self.defaultRegistry = defaultRegistry
        self.platform = platform
        self.maxConcurrentDownloadsPerRegistry = maxConcurrentDownloadsPerRegistry
        self.registry = registry
        self.store = store
    }
}
