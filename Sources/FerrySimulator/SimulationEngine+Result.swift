extension SimulationEngine {
    /// The measurements of a finished run.
    func result() -> SimulationResult {
        let finished = completion.filter { $0 >= 0 }
        var maxDepth: Int32 = 0
        var depthSum = 0.0
        var depthCount = 0
        for node in Self.firstFollower..<Int32(names.count) {
            for blob in 0..<Int32(blobCount) where hops[slot(node, blob)] > 0 {
                let depth = hops[slot(node, blob)]
                maxDepth = max(maxDepth, depth)
                depthSum += Double(depth)
                depthCount += 1
            }
        }
        let followerPeaks = peakUploads.dropFirst(Int(Self.firstFollower))
        return SimulationResult(
            configuration: configuration,
            completed: finished.count,
            completionTimes: completion,
            p50: SimulationResult.percentile(0.5, of: finished),
            p99: SimulationResult.percentile(0.99, of: finished),
            max: finished.max() ?? 0,
            physicalLimit: configuration.physicalLimit,
            bytesFromUpstream: bytesSent[Int(Self.upstream)],
            bytesFromLeader: bytesSent[Int(Self.leader)],
            bytesFromPeers: bytesSent.dropFirst(Int(Self.firstFollower)).reduce(0, +),
            maxTreeDepth: Int(maxDepth),
            meanTreeDepth: depthCount == 0 ? 0 : depthSum / Double(depthCount),
            leaderAssignments: leaderAssignments,
            emptyAnswers: emptyAnswers,
            overCapAssignments: overCapAssignments,
            leaderPeakUploads: Int(peakUploads[Int(Self.leader)]),
            peerPeakUploads: Int(followerPeaks.max() ?? 0),
            events: eventCount,
            candidatesRanked: candidatesRanked,
            trackerMismatches: trackerMismatches,
            runSeconds: nil)
    }
}
