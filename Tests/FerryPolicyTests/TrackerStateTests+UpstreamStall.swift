import FerryCore
import FerryPolicy
import Testing

/// The leader's upstream stalls while the leader is still fetching a blob: every node receiving
/// it stalls too, relays and their receivers alike (found by an audit with a 75 s upstream outage:
/// each follower threw its partial away every 5 s and fetched it again, 8.9 copies of the image
/// from the leader, and every follower ended up excluded by the others for 10 min).
extension TrackerStateTests {
    /// The leader's copy of a 1000-byte blob, still arriving.
    static let arriving = TrackerState.Holding(complete: false, size: 1000)

    @Test("a node whose transfer from the leader stalled is sent back to the leader, not answered with no source")
    func leaderStaysASourceAfterItsTransferStalled() {
        var state = TrackerState(selector: SourceSelector())
        #expect(state.choose(for: "n1", digest: Self.digest, size: 1000, leader: Self.arriving, reachable: nil, now: 0).first?.node == "leader")
        for now in stride(from: 5.0, through: 75, by: 5) {
            let answer = state.choose(
                for: "n1", digest: Self.digest, size: 1000, have: 400, failed: ["leader"], leader: Self.arriving, reachable: nil, now: now)
            #expect(answer.first?.node == "leader", "at \(now) s: \(answer.map(\.node))")
        }
    }

    @Test("while the leader's upstream transfer stands still, stalls and cuts reported against a relay count nothing, however many; otherwise they do")
    func stallsOfRelaysCountNothingWhileTheLeaderFetches() {
        var state = TrackerState(selector: SourceSelector())
        #expect(state.choose(for: "relay", digest: Self.digest, size: 1000, leader: Self.arriving, reachable: nil, now: 0).first?.node == "leader")
        state.receiving("relay", digest: Self.digest)
        let handed = state.choose(
            for: "receiver", digest: Self.digest, size: 1000, failed: ["leader"], leader: Self.arriving, reachable: nil, now: 1
        ).map(\.node)
        #expect(handed.contains("relay"), "\(handed)")
        // A minute and a half of an upstream outage, a report every stall timeout.
        for now in stride(from: 5.0, through: 90, by: 5) {
            let verdict = state.accuse(
                "receiver", digest: Self.digest, sources: ["relay"], now.truncatingRemainder(dividingBy: 10) == 0 ? .truncated : .stalled,
                now: now, upstreamStalled: true)
            #expect(verdict.counted.isEmpty && verdict.upstreamStalled == ["relay"], "at \(now) s")
        }
        #expect(!state.isExcluded("relay", for: "receiver", now: 91))
        #expect(state.flagged(now: 91).isEmpty)

        // The control: the same reports once the leader holds the blob count, and exclude.
        for now in stride(from: 95.0, through: 130, by: 5) {
            state.accuse("receiver", digest: Self.digest, sources: ["relay"], .stalled, now: now, upstreamStalled: false)
        }
        #expect(state.isExcluded("relay", for: "receiver", now: 131))
    }

    @Test("a source listed as holding the whole blob is not excused by the leader's stalled upstream")
    func aWholeHolderIsNotExcused() {
        var state = TrackerState(selector: SourceSelector())
        _ = state.choose(for: "holder", digest: Self.digest, size: 1000, leader: Self.arriving, reachable: nil, now: 0)
        state.present("holder", digest: Self.digest)
        #expect(
            state.choose(for: "receiver", digest: Self.digest, size: 1000, leader: Self.arriving, reachable: nil, now: 1).map(\.node).contains("holder"))
        let verdict = state.accuse("receiver", digest: Self.digest, sources: ["holder"], .stalled, now: 5, upstreamStalled: true)
        #expect(verdict.counted == ["holder"] && verdict.upstreamStalled.isEmpty)
    }
}
