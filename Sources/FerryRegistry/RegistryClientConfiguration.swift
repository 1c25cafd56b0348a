import FerryCore
import FerryPolicy

/// How the upstream client connects, authenticates and retries. Every field has a default
/// suited to a production leader.
public struct RegistryClientConfiguration: Sendable {
    /// Registry hosts (`host[:port]`) that may be reached over plain HTTP. Loopback hosts
    /// (`localhost`, `127.0.0.0/8`, `::1`) always may, as Docker allows. Default: none.
    public var insecureRegistries: Set<String>
    /// A PEM file of extra CA certificates trusted beside the system store. Default: none.
    public var caFile: String?
    /// Retries for 5xx, 429 and dropped connections. Default: ``RetryPolicy/init(maxAttempts:baseDelay:maxDelay:maxRetryAfter:)``.
    public var retry: RetryPolicy
    /// TCP connect timeout. Default 10 s.
    public var connectTimeout: Duration
    /// How long a response may stall between two reads before the connection counts as dropped. Default 60 s.
    public var readTimeout: Duration
    /// Cap on all upstream blob bytes per second, shared by every transfer. Default: unlimited.
    public var rateLimit: Int64?
    /// The `User-Agent` sent upstream.
    public var userAgent: String
    /// Host names to connect to at another address, like curl's `--resolve`: requests and TLS
    /// verification still use the name. Default: none.
    public var hostOverrides: [String: String]
    /// A Ferry cluster CA: when set, every host is reached over TLS (loopback too), trusting that
    /// CA alone, host names checked (a follower reaches the leader's `/v2/` as
    /// `leader.ferry.invalid`, mapped to its address by ``hostOverrides``). Default: none.
    public var clusterCA: String?
    /// Registries fetched through a mirror, by original host (``RegistryMirror``): the leader's
    /// `--mirror`. Default: none.
    public var mirrors: [String: RegistryMirror]
    /// The flag that names the upstream credentials file, as messages tell the operator to check
    /// it. Default `--registry-auth` (the leader's); the proxy's is `--upstream-auth`.
    public var credentialsFlag = "--registry-auth"

    public init(
        insecureRegistries: Set<String> = [],
        caFile: String? = nil,
        retry: RetryPolicy = RetryPolicy(),
        connectTimeout: Duration = .seconds(10),
        readTimeout: Duration = .seconds(60),
        rateLimit: Int64? = nil,
        userAgent: String = "ferry/\(FerryVersion.current)",
        hostOverrides: [String: String] = [:],
        mirrors: [String: RegistryMirror] = [:]
    ) {
        self.insecureRegistries = insecureRegistries
        self.caFile = caFile
        self.retry = retry
        self.connectTimeout = connectTimeout
        self.readTimeout = readTimeout
        self.rateLimit = rateLimit
        self.userAgent = userAgent
        self.hostOverrides = hostOverrides
        self.mirrors = mirrors
    }

    /// The base URL for a registry host: plain HTTP for loopback and insecure hosts, HTTPS otherwise
    /// (always, with a ``clusterCA``). Docker Hub's `docker.io` is served at `registry-1.docker.io`.
    public func baseURL(for host: String) -> String {
        if host == ImageReference.dockerHub { return "https://registry-1.docker.io" }
        return (allowsPlainHTTP(host) ? "http://" : "https://") + host
    }

    public func allowsPlainHTTP(_ host: String) -> Bool {
        insecureRegistries.contains(host) || (clusterCA == nil && Self.isLoopback(host))
    }

    /// Whether a bare host (a name or an IP literal, brackets allowed, no port) is `localhost` or
    /// a loopback address in any spelling (`127.0.0.0/8`, `::1`, `::ffff:127.x.y.z`).
    public static func isLoopbackHost(_ host: String) -> Bool {
        let name = host.lowercased()
        return name == "localhost" || name == "localhost." || HostAddress(name)?.isLoopback == true
    }

    /// Whether a registry host (`name[:port]`, `[v6]:port`) is `localhost` or a loopback address
    /// (``isLoopbackHost(_:)``). A name is not an address: `127.example.com` is not loopback.
    public static func isLoopback(_ host: String) -> Bool {
        var name = Substring(host)
        if name.hasPrefix("[") {
            name = name.prefix { $0 != "]" }.dropFirst()
        } else if let colon = name.firstIndex(of: ":"), name.lastIndex(of: ":") == colon {
            name = name[..<colon]
        }
        return isLoopbackHost(String(name))
    }
}
