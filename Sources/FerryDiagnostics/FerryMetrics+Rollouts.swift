import CoreMetrics

extension FerryMetrics {
    /// The outcomes a switch report has, each exported from the start.
    static let rolloutSwitchOutcomes = ["passed", "failed", "no-containers"]

    /// `ferry_rollout_node_switches_total{outcome}`: nodes' switches as they reported them
    /// (`passed`, `failed`, `no-containers`).
    public static func countRolloutSwitch(outcome: String) {
        Counter(label: "ferry_rollout_node_switches_total", dimensions: [("outcome", outcome)]).increment()
    }

    /// `ferry_rollout_downtime_seconds`: per node that passed, its longest gap in service (old
    /// container stopped → new one passed its gate), as a histogram.
    private static let rolloutDowntime = Timer(label: "ferry_rollout_downtime_seconds")

    public static func recordRolloutDowntime(_ duration: Duration) { rolloutDowntime.record(duration: duration) }

    /// `ferry_rollouts{state}`: rollouts the leader holds, by phase.
    public static func setRollouts(phase: String, count: Int) {
        Gauge(label: "ferry_rollouts", dimensions: [("state", phase)]).record(count)
    }
}
