import FerryFormats
import FerryServer
import Foundation

/// How `ferry proxy serve` runs. Every field has its documented default here, once.
public struct ProxyConfiguration: Sendable {
    /// How long a tag's resolution upstream is reused. Default 30 s (a new push is seen within it).
    public var tagTTL: Duration
    /// Whether blobs and manifests are kept in the content store. Default true.
    public var cache: Bool
    /// Lifetime of the bearer tokens `/token` issues. Default 300 s.
    public var tokenLifetime: Duration
    /// The `service` named in challenges and tokens. Default `ferry-proxy`.
    public var service: String
    /// The URL clients reach the proxy at (for the token realm), e.g. `https://proxy.vendor.example`.
    /// Default: nil, taken from each request's `Host` and the listener's scheme.
    public var publicURL: String?
    /// Whether the listener speaks TLS (the realm's scheme when ``publicURL`` is nil).
    public var tls: Bool
    /// Concurrent blob streams per licence. Default 16. Requests past it wait for one of the
    /// licence's streams to end, in order, at most ``maxStreamWait`` and at most 4 × this many
    /// (at least 128) at once; past either, `429` with `Retry-After`.
    public var maxStreamsPerLicence: Int
    /// How long a blob request past ``maxStreamsPerLicence`` waits for a slot (a client such as
    /// `ctr` opens a connection per layer, all at once, and does not wait for `Retry-After`).
    /// Default 50 s, below the 60 s after which load balancers and HTTP clients (Ferry's own
    /// included) commonly give up on an answer; zero: `429` at once (`--max-stream-wait`).
    public var maxStreamWait: Duration
    /// How long after an upstream repository failed to answer the cache answers for it without
    /// asking it again (each question to a registry that is down costs its retries, about 10 s).
    /// Default 10 s.
    public var outageHold: Duration
    /// How long a customer may take nothing of a response before its connection is closed,
    /// freeing the licence's stream slot (``HTTPLimits/sendTimeout``). Default 120 s.
    public var sendTimeout: Duration

    public init(
        tagTTL: Duration = .seconds(30), cache: Bool = true, tokenLifetime: Duration = .seconds(300), service: String = "ferry-proxy",
        publicURL: String? = nil, tls: Bool = false, maxStreamsPerLicence: Int = 16, maxStreamWait: Duration = .seconds(50),
        outageHold: Duration = .seconds(10), sendTimeout: Duration = HTTPLimits.defaultSendTimeout
    ) {
        self.sendTimeout = sendTimeout
        self.maxStreamWait = maxStreamWait
        self.outageHold = outageHold
        self.tagTTL = tagTTL
        self.cache = cache
        self.tokenLifetime = tokenLifetime
        self.service = service
        self.publicURL = publicURL
        self.tls = tls
        self.maxStreamsPerLicence = maxStreamsPerLicence
    }
}
