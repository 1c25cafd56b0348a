import CoreMetrics

extension FerryMetrics {
    /// `ferry_pull_fallbacks_total`: image resolutions that used the digest the leader held
    /// because the upstream could not answer (`--pull fallback`).
    private static let pullFallbacks = Counter(label: "ferry_pull_fallbacks_total")

    public static func recordPullFallback() { pullFallbacks.increment() }
}
