import CoreMetrics

extension FerryMetrics {
    /// What the leader's tracker made of nodes' reports against a source (`corrupt`, `overflow`,
    /// `stalled`, `truncated`), per source named.
    public enum ReportOutcome: String, Sendable, CaseIterable {
        /// Counted against the source (a strike or an exclusion, for the accuser).
        case counted
        /// Not counted: the source's own report of trouble with the blob explains it.
        case explained
        /// Counted, then undone when the source's own report of trouble came.
        case withdrawn
    }

    /// `ferry_mesh_reports_total{outcome}` (leader).
    private static let reports = Dictionary(
        uniqueKeysWithValues: ReportOutcome.allCases.map { ($0, Counter(label: "ferry_mesh_reports_total", dimensions: [("outcome", $0.rawValue)])) })

    /// Counts `count` reports (0: makes the counter, exported from then on).
    public static func countReports(_ outcome: ReportOutcome, _ count: Int) {
        reports[outcome]?.increment(by: count)
    }
}
