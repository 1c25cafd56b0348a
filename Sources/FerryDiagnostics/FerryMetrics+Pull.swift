import CoreMetrics

extension FerryMetrics {
    /// `ferry_pull_fallbacks_total`: image resolutions that used the digest the leader held
    /// because the upstream could not answer (`--pull fallback`).
    private static let pullFallbacks = Counter(label: "ferry_pull_fallbacks_total")

    public static func recordPullFallback() { pullFallbacks.increment() }

    /// Makes the leader's own counters (pull fallbacks, mesh reports, sources requests, rollout
    /// switches by outcome), exported at 0 until their first event.
    public static func registerLeaderCounters() {
        pullFallbacks.increment(by: 0)
        for outcome in ReportOutcome.allCases { countReports(outcome, 0) }
        registerSourceCounters()
        for outcome in rolloutSwitchOutcomes { Counter(label: "ferry_rollout_node_switches_total", dimensions: [("outcome", outcome)]).increment(by: 0) }
    }
}
