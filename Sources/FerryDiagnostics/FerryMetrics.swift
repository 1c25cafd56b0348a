import CoreMetrics
import Metrics
import Synchronization

/// The metrics every node exports (Prometheus text at `GET /metrics`), behind functions so that
/// callers need no metrics import. The handles are made on first use, after the process has
/// bootstrapped its metrics backend.
public enum FerryMetrics {
    /// `ferry_upstream_bytes_total`: blob bytes received from the upstream registry (leader).
    private static let upstreamBytes = Counter(label: "ferry_upstream_bytes_total")
    /// `ferry_served_bytes_total`: blob bytes this node served over `/v2/` (to followers and peers).
    private static let servedBytes = Counter(label: "ferry_served_bytes_total")
    /// `ferry_received_bytes_total{source="leader|peer"}`: blob bytes received from the mesh.
    private static let receivedFromLeader = Counter(label: "ferry_received_bytes_total", dimensions: [("source", "leader")])
    private static let receivedFromPeers = Counter(label: "ferry_received_bytes_total", dimensions: [("source", "peer")])
    /// `ferry_active_downloads`, `ferry_active_uploads`: blob transfers in progress.
    private static let activeDownloads = Meter(label: "ferry_active_downloads")
    private static let activeUploads = Meter(label: "ferry_active_uploads")
    /// `ferry_verification_failures_total`: blobs whose bytes failed verification.
    private static let verificationFailures = Counter(label: "ferry_verification_failures_total")
    /// `ferry_source_failures_total{kind="failed|stalled|truncated"}`: sources a follower left
    /// mid-blob (refused or failed request, silent for the stall timeout, broke off).
    private static let sourceFailures = Dictionary(
        uniqueKeysWithValues: SourceFailure.allCases.map { ($0, Counter(label: "ferry_source_failures_total", dimensions: [("kind", $0.rawValue)])) })
    /// `ferry_connections_refused_total`: connections closed at once because their client
    /// already had `--max-connections-per-client` open.
    private static let connectionsRefused = Counter(label: "ferry_connections_refused_total")
    /// `ferry_send_timeouts_total`: connections closed because their client took nothing of a
    /// response for `--send-timeout`.
    private static let sendTimeouts = Counter(label: "ferry_send_timeouts_total")
    /// `ferry_install_duration_seconds` (leader) and `ferry_load_duration_seconds` (follower).
    private static let installDuration = Timer(label: "ferry_install_duration_seconds")
    private static let loadDuration = Timer(label: "ferry_load_duration_seconds")

    /// Makes the counters every node has, so that they are exported (at 0) before their first
    /// event, as Prometheus expects. Call once the metrics backend is bootstrapped.
    public static func registerCounters() {
        for counter in [upstreamBytes, servedBytes, receivedFromLeader, receivedFromPeers, verificationFailures, connectionsRefused, sendTimeouts] + sourceFailures.values {
            counter.increment(by: 0)
        }
    }

    public static func countUpstream(_ bytes: Int) { upstreamBytes.increment(by: bytes) }
    public static func countServed(_ bytes: Int) { servedBytes.increment(by: bytes) }
    public static func countReceived(_ bytes: Int, fromPeer: Bool) {
        (fromPeer ? receivedFromPeers : receivedFromLeader).increment(by: bytes)
    }
    public static func countVerificationFailure() { verificationFailures.increment() }
    public static func countConnectionRefused() { connectionsRefused.increment() }
    public static func countSendTimeout() { sendTimeouts.increment() }
    public static func countSourceFailure(_ kind: SourceFailure) { sourceFailures[kind]?.increment() }
    public static func uploadStarted() { activeUploads.increment() }
    public static func uploadEnded() { activeUploads.decrement() }
    public static func downloadStarted() { activeDownloads.increment() }
    public static func downloadEnded() { activeDownloads.decrement() }
    public static func recordInstall(_ duration: Duration) { installDuration.record(duration: duration) }
    public static func recordLoad(_ duration: Duration) { loadDuration.record(duration: duration) }

    /// `ferry_ca_certificate_expiry_seconds` (leader): seconds until the cluster CA expires.
    private static let caExpiry = Gauge(label: "ferry_ca_certificate_expiry_seconds")
    /// `ferry_certificate_expiry_seconds` (follower): seconds until this node's TLS certificate expires.
    private static let ownCertificateExpiry = Gauge(label: "ferry_certificate_expiry_seconds")

    public static func setCAExpiry(seconds: Double) { caExpiry.record(seconds) }
    public static func setCertificateExpiry(seconds: Double) { ownCertificateExpiry.record(seconds) }
    /// `ferry_node_certificate_expiry_seconds{node="NAME"}` (leader): seconds until the certificate
    /// the leader last issued node NAME expires, for every node of the cluster (`expiries`, set
    /// by the leader's housekeeping, so that a silent node's keeps falling); the series of a node
    /// no longer among them (removed) is dropped.
    public static func setNodeCertificateExpiries(_ expiries: [String: Double]) {
        let gone = nodeCertificateSeries.withLock { names in
            defer { names = Set(expiries.keys) }
            return names.subtracting(expiries.keys)
        }
        for (node, seconds) in expiries { Gauge(label: "ferry_node_certificate_expiry_seconds", dimensions: [("node", node)]).record(seconds) }
        for node in gone { Gauge(label: "ferry_node_certificate_expiry_seconds", dimensions: [("node", node)]).destroy() }
    }

    /// The nodes whose certificate series is exported.
    private static let nodeCertificateSeries = Mutex<Set<String>>([])
}

/// How a source failed a follower mid-blob (``FerryMetrics/countSourceFailure(_:)``).
public enum SourceFailure: String, CaseIterable, Sendable {
    case failed, stalled, truncated
}

extension Timer {
    /// Records `duration`, clamped to 0 … about 292 years (nanoseconds in an Int64): a duration
    /// out of range must not trap.
    func record(duration: Duration) {
        guard duration > .zero else { return recordNanoseconds(0) }
        let (seconds, attoseconds) = duration.components
        let (nanoseconds, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        recordNanoseconds(overflow ? .max : nanoseconds.addingReportingOverflow(attoseconds / 1_000_000_000).overflow ? .max : nanoseconds + attoseconds / 1_000_000_000)
    }
}
