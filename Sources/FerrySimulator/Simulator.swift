import FerryCore
import FerryPolicy

/// Simulates a cluster-wide install: the leader downloads the image's blobs once from upstream
/// while every follower asks the tracker for a source per blob, the tracker being FerryPolicy's
/// `TrackerState` (the very value the leader's `Tracker` drives), and the blobs flow chunk by
/// chunk down the resulting trees, cut-through, over links shared fairly.
///
/// Deterministic: the same configuration (seed included) gives the same result, bit for bit.
public struct Simulator: Sendable {
    public let configuration: SimulationConfiguration

    /// A simulator for `configuration`; throws if it cannot run.
    public init(_ configuration: SimulationConfiguration) throws(FerryError) {
        try configuration.validate()
        self.configuration = configuration
    }

    /// Runs the install to the end (every follower holds every blob).
    public func run() -> SimulationResult {
        var engine = SimulationEngine(configuration)
        return engine.run()
    }
}
