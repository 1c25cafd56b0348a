/// What one simulated install measured.
public struct SimulationResult: Sendable, Hashable, Codable {
    /// The run's configuration.
    public var configuration: SimulationConfiguration
    /// Followers that hold every blob at the end (all of them, unless the model is broken).
    public var completed: Int
    /// Completion time of each follower, by index (seconds after the install started; -1 for
    /// one that never completed). Not encoded: it is large and the percentiles summarise it.
    public var completionTimes: [Double] = []
    /// Median completion time (nearest rank).
    public var p50: Double
    /// 99th percentile of completion time (nearest rank).
    public var p99: Double
    /// The last follower's completion time: the install's wall time.
    public var max: Double
    /// The image over the upstream link once: the lower bound for any install.
    public var physicalLimit: Double
    /// Bytes the leader downloaded from upstream.
    public var bytesFromUpstream: Int64
    /// Bytes the leader sent to followers.
    public var bytesFromLeader: Int64
    /// Bytes followers sent to each other.
    public var bytesFromPeers: Int64
    /// Deepest chain of sources, in hops from the leader (1: straight from the leader), over all blobs.
    public var maxTreeDepth: Int
    /// Mean hops from the leader over every (follower, blob).
    public var meanTreeDepth: Double
    /// Source assignments that went to the leader.
    public var leaderAssignments: Int
    /// Requests answered with no source because the leader had not started the blob yet (more
    /// blobs than its parallel upstream downloads); the follower asked again after a backoff.
    public var emptyAnswers: Int
    /// Assignments to a source that was at or over its slots when chosen.
    public var overCapAssignments: Int
    /// Most transfers the leader served at once (as the tracker counts them).
    public var leaderPeakUploads: Int
    /// Most transfers any follower served at once (as the tracker counts them).
    public var peerPeakUploads: Int
    /// Events the engine processed (including superseded chunk timers it skipped).
    public var events: Int
    /// Candidates handed to the selector, summed over all requests.
    public var candidatesRanked: Int
    /// With ``SimulationConfiguration/TrackerView/checked``: choices where the pruned list's
    /// first source differed from the full list's. Always 0 unless pruning is wrong.
    public var trackerMismatches: Int
    /// Seconds the run took (`ferry-sim` measures the thread's CPU time), filled in by the
    /// caller that timed it: the simulator itself never reads a clock.
    public var runSeconds: Double?

    enum CodingKeys: String, CodingKey {
        case configuration, completed, p50, p99, max, physicalLimit, bytesFromUpstream, bytesFromLeader, bytesFromPeers
        case maxTreeDepth, meanTreeDepth, leaderAssignments, emptyAnswers, overCapAssignments, leaderPeakUploads, peerPeakUploads
        case events, candidatesRanked, trackerMismatches, runSeconds
    }

    /// Last completion time over the physical limit.
    public var maxRatio: Double { max / physicalLimit }

    /// The nearest-rank `quantile` (0…1) of `values`; 0 for none.
    public static func percentile(_ quantile: Double, of values: [Double]) -> Double {
        guard !values.isEmpty else { return 0 }
        let sorted = values.sorted()
        let rank = Int((quantile * Double(sorted.count)).rounded(.up))
        return sorted[Swift.min(Swift.max(rank, 1), sorted.count) - 1]
    }
}
