import ArgumentParser
import FerryCore
import FerryPolicy
import FerrySimulator
import Foundation

/// `ferry-sim`: simulates cluster-wide installs at several cluster sizes with the leader's own
/// tracker (`TrackerState`), and reports completion times against N.
@main
struct FerrySim: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ferry-sim",
        abstract: "Simulate a cluster-wide install at several cluster sizes and report completion times.",
        discussion: """
            The leader downloads the image once from upstream; every follower asks the tracker \
            (FerryPolicy's TrackerState, as the leader runs it) for a source per blob and pulls it chunk by chunk, \
            cut-through, from the leader or from peers. Deterministic for a seed.
            """)

    @Option(help: "Cluster sizes (followers), comma-separated.")
    var nodes = "10,100,1000,10000"

    @Option(help: "Total size of the image's blobs, e.g. 200MiB.")
    var imageSize = "200MiB"

    @Option(help: "Blobs (layers) the image is split into, of equal size.")
    var blobs = 4

    @Option(help: "Cut-through unit: a chunk is served once it has fully arrived.")
    var chunkSize = "1MiB"

    @Option(help: "The leader's upstream link, e.g. 100Mbit/s.")
    var upstreamRate = "100Mbit/s"

    @Option(help: "Each node's uplink and downlink, e.g. 1Gbit/s.")
    var nodeRate = "1Gbit/s"

    @Option(help: "One-way latency per hop inside the cluster, e.g. 0.5ms.")
    var latency = "0.5ms"

    @Option(help: "Spread of latency: each node adds U[0, this) (half per hop end).")
    var latencyJitter = "0ms"

    @Option(help: "One-way latency to the upstream registry (default: --latency).")
    var upstreamLatency: String?

    @Option(help: "Followers start at U[0, this) instead of all at once.")
    var stagger = "0ms"

    @Option(help: "Upload slots of a follower (SourceSelector.peerSlots).")
    var peerSlots = 3

    @Option(help: "Upload slots of the leader (SourceSelector.leaderSlots).")
    var leaderSlots = 1

    @Option(help: "Blobs the leader downloads from upstream at once.")
    var upstreamParallel = 4

    @Option(help: "Uploads of all blobs together past which a node counts as busy (SourceSelector.uploadLimit).")
    var uploadLimit = 16

    @Option(help: "What activeUploads counts: blob (this blob only, as Tracker does) or node (every blob a node serves, the old tracker).")
    var slotScope: SimulationConfiguration.SlotScope = .blob

    @Option(help: "When the tracker lists a node as receiving: assignment (as Tracker does) or report (its `receiving` event, the old tracker).")
    var receivingKnown: SimulationConfiguration.ReceivingKnowledge = .assignment

    @Option(help: "Candidates handed to the selector: pruned, full (slow at scale) or checked (both, compared).")
    var trackerView: SimulationConfiguration.TrackerView = .pruned

    @Flag(help: "Peers do not serve: every follower pulls from the leader.")
    var noPeers = false

    @Option(help: "Seed of the random generator.")
    var seed: UInt64 = 1

    @Option(help: "Write the results table and the model's assumptions to this file as a markdown section.")
    var markdown: String?

    @Option(help: "Title of the markdown section.")
    var heading = "Simulated installs"

    @Flag(help: "Print the results as JSON.")
    var json = false

    func run() throws {
        let counts = try SimulationConfiguration.parseNodeCounts(nodes)
        var results: [SimulationResult] = []
        for count in counts {
            let simulator = try Simulator(try configuration(nodes: count))
            let start = Self.cpuSeconds()
            var result = simulator.run()
            result.runSeconds = Self.cpuSeconds() - start
            if !json {
                let line = "N=\(count): p50 \(Self.format(result.p50)) s, p99 \(Self.format(result.p99)) s, max \(Self.format(result.max)) s "
                    + "(\(Self.format(result.maxRatio))× limit), depth \(result.maxTreeDepth), \(result.events) events, "
                    + "\(Self.format(result.runSeconds ?? 0)) s of CPU to simulate"
                FileHandle.standardError.write(Data((line + "\n").utf8))
            }
            results.append(result)
        }
        let report = SimulationReport(results: results)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            if let first = results.first { print(SimulationReport.parameters(first.configuration) + "\n") }
            print(report.table())
            if !report.growth.isEmpty { print("\n" + report.growthLines().joined(separator: "\n")) }
        }
        if let markdown {
            try report.markdown(heading: heading).write(toFile: markdown, atomically: true, encoding: .utf8)
        }
    }

    func configuration(nodes count: Int) throws -> SimulationConfiguration {
        SimulationConfiguration(
            nodes: count,
            imageSize: try ByteSize.parse(imageSize),
            blobs: blobs,
            chunkSize: try ByteSize.parse(chunkSize),
            upstreamRate: try ByteSize.parseRate(upstreamRate),
            nodeRate: try ByteSize.parseRate(nodeRate),
            latency: try SimulationConfiguration.parseDuration(latency),
            latencyJitter: try SimulationConfiguration.parseDuration(latencyJitter),
            upstreamLatency: try upstreamLatency.map { text throws(FerryError) in try SimulationConfiguration.parseDuration(text) },
            stagger: try SimulationConfiguration.parseDuration(stagger),
            peerSlots: peerSlots,
            leaderSlots: leaderSlots,
            peersEnabled: !noPeers,
            upstreamParallel: upstreamParallel,
            uploadLimit: uploadLimit,
            slotScope: slotScope,
            receivingKnown: receivingKnown,
            trackerView: trackerView,
            seed: seed)
    }

    static func format(_ value: Double) -> String { String(format: "%.2f", value) }

    /// CPU time of this thread: a run's cost even on a busy machine, where wall time is not.
    static func cpuSeconds() -> Double {
        var spec = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &spec)
        return Double(spec.tv_sec) + Double(spec.tv_nsec) * 1e-9
    }
}

extension SimulationConfiguration.SlotScope: ExpressibleByArgument {}
extension SimulationConfiguration.ReceivingKnowledge: ExpressibleByArgument {}
extension SimulationConfiguration.TrackerView: ExpressibleByArgument {}
