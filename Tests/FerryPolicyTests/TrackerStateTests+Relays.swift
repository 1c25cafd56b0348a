import FerryCore
import FerryPolicy
import Testing

/// An honest relay fed by a liar: its receiver's reports against it are explained by the relay's
/// own report about the blob, whichever reaches the tracker first.
extension TrackerStateTests {
    /// `relay` receives the blob from `liar`; `receiver` was handed the relay and the leader.
    static func relayed(blobs: [Digest] = [digest]) -> TrackerState {
        var state = TrackerState(selector: SourceSelector())
        for blob in blobs {
            _ = state.choose(for: "liar", digest: blob, size: 1000, leader: whole, reachable: nil, now: 0)
            state.present("liar", digest: blob)
            #expect(first(&state, for: "relay", digest: blob, now: 5) == "liar")
            let answer = state.choose(
                for: "receiver", digest: blob, size: 1000, failed: ["liar"], leader: whole, reachable: nil, now: 5
            ).map(\.node)
            #expect(answer.contains("relay") && answer.contains("leader"))
        }
        return state
    }

    @Test("without the relay's own report, a cut transfer and a bad blob from one receiver make it avoid the relay (the control)")
    func relayWithoutExplanationIsAvoided() {
        var state = Self.relayed()
        state.accuse("receiver", digest: Self.digest, sources: ["relay"], .truncated, now: 10)
        state.accuse("receiver", digest: Self.digest, sources: ["relay", "leader"], .corrupt, now: 20)
        #expect(state.isExcluded("relay", for: "receiver", now: 21))
    }

    @Test("the relay threw its copy away first: its receiver's cut transfer and bad blob count nothing")
    func relayThatDiscardedFirstIsNotBlamed() {
        var state = Self.relayed()
        state.accuse("relay", digest: Self.digest, sources: ["liar"], .corrupt, now: 10)
        let cut = state.accuse("receiver", digest: Self.digest, sources: ["relay"], .truncated, now: 10.01)
        #expect(cut.explained == ["relay"] && cut.counted.isEmpty)
        let bad = state.accuse("receiver", digest: Self.digest, sources: ["relay", "leader"], .corrupt, now: 20)
        #expect(bad.explained == ["relay"] && bad.counted.isEmpty)
        #expect(!state.isExcluded("relay", for: "receiver", now: 21))
        // The liar, named alone by the relay, is avoided by the relay.
        #expect(state.isExcluded("liar", for: "relay", now: 21))
    }

    @Test("a receiver resuming after a relay that threw its copy away is told to discard what it holds, soon after only")
    func receiverOfADiscardingRelayStartsOver() {
        var state = Self.relayed()
        #expect(state.suspectSources("receiver", digest: Self.digest, have: 600, failed: ["relay"], now: 9).isEmpty)
        state.accuse("relay", digest: Self.digest, sources: ["liar"], .corrupt, now: 10)
        #expect(state.suspectSources("receiver", digest: Self.digest, have: 600, failed: ["relay", "leader"], now: 10.02) == ["relay"])
        #expect(state.suspectSources("receiver", digest: Self.digest, have: 0, failed: ["relay"], now: 10.02).isEmpty, "nothing held")
        #expect(state.suspectSources("receiver", digest: Self.digest, have: 600, failed: [], now: 10.02).isEmpty, "the relay did not fail it")
        #expect(state.suspectSources("bystander", digest: Self.digest, have: 600, failed: ["relay"], now: 10.02).isEmpty, "never handed the relay")
        #expect(state.suspectSources("receiver", digest: Self.digest, have: 600, failed: ["relay"], now: 60).isEmpty, "long after")
    }

    @Test("the receiver's report came first: the relay's report undoes it")
    func relayReportUndoesAnEarlierOne() {
        var state = Self.relayed()
        state.accuse("receiver", digest: Self.digest, sources: ["relay"], .truncated, now: 10)
        let own = state.accuse("relay", digest: Self.digest, sources: ["liar"], .corrupt, now: 10.05)
        #expect(own.withdrawn.map { "\($0.accuser) against \($0.source)" } == ["receiver against relay"])
        state.accuse("receiver", digest: Self.digest, sources: ["relay", "leader"], .corrupt, now: 20)
        #expect(!state.isExcluded("relay", for: "receiver", now: 21))
    }

    @Test("a relay stalled because its own source stalled: the conclusive stall report is undone, flag and all")
    func relayStalledByItsSourceIsNotExcluded() {
        var state = Self.relayed()
        // A second receiver, so that two stall reports make the quorum's flag.
        let other = state.choose(for: "second", digest: Self.digest, size: 1000, failed: ["liar", "leader"], leader: Self.whole, reachable: nil, now: 5)
        #expect(other.first?.node == "relay")
        state.accuse("receiver", digest: Self.digest, sources: ["relay"], .stalled, now: 10)
        state.accuse("second", digest: Self.digest, sources: ["relay"], .stalled, now: 10.1)
        #expect(state.isExcluded("relay", for: "receiver", now: 10.2) && state.flagged(now: 10.2) == ["relay": 2])
        let own = state.accuse("relay", digest: Self.digest, sources: ["liar"], .stalled, now: 10.3)
        #expect(Set(own.withdrawn.map(\.accuser)) == ["receiver", "second"])
        #expect(!state.isExcluded("relay", for: "receiver", now: 11) && !state.isExcluded("relay", for: "second", now: 11))
        #expect(state.flagged(now: 11).isEmpty)
        #expect(state.isExcluded("liar", for: "relay", now: 11))
    }

    @Test("an explanation holds only close in time, and once per accuser and source per window")
    func explanationsAreBounded() {
        var state = Self.relayed()
        state.accuse("relay", digest: Self.digest, sources: ["liar"], .stalled, now: 10)
        // Long after the relay's trouble: a stall is the relay's own.
        #expect(state.accuse("receiver", digest: Self.digest, sources: ["relay"], .stalled, now: 60).counted == ["relay"])

        var again = Self.relayed(blobs: [Self.digest, Self.other])
        again.accuse("relay", digest: Self.digest, sources: ["liar"], .corrupt, now: 10)
        #expect(again.accuse("receiver", digest: Self.digest, sources: ["relay"], .truncated, now: 10.01).explained == ["relay"])
        // The same story about another blob within the window is not believed: a liar cannot
        // explain away a habit.
        again.accuse("relay", digest: Self.other, sources: ["liar"], .corrupt, now: 100)
        #expect(again.accuse("receiver", digest: Self.other, sources: ["relay"], .truncated, now: 100.01).counted == ["relay"])
        #expect(!again.isExcluded("relay", for: "receiver", now: 101), "one strike")
        // After the window, a new story is believed again.
        again.accuse("relay", digest: Self.other, sources: ["liar"], .corrupt, now: 700)
        #expect(again.accuse("receiver", digest: Self.other, sources: ["relay"], .truncated, now: 700.01).explained == ["relay"])
    }

    @Test("one blob's story explains at most two reports per window, counted from its first excuse")
    func oneStoryIsTwoReportsAtMost() {
        var state = Self.relayed()
        for (index, at) in [10.0, 40.0, 70.0].enumerated() {
            state.accuse("relay", digest: Self.digest, sources: ["liar"], .stalled, now: at)
            let verdict = state.accuse("receiver", digest: Self.digest, sources: ["relay"], .stalled, now: at + 1)
            #expect(verdict.explained == (index < 2 ? ["relay"] : []), "report \(index + 1)")
        }
        #expect(state.isExcluded("relay", for: "receiver", now: 72), "the third stall counted")
    }

    @Test("a bad blob from several contributors is excused only against those that threw their copy away")
    func onlyTheDiscardingContributorIsExcused() {
        var state = Self.relayed()
        // receiver was handed relay and leader; give it the liar too.
        _ = state.choose(for: "receiver", digest: Self.digest, size: 1000, leader: Self.whole, reachable: nil, now: 6)
        state.accuse("relay", digest: Self.digest, sources: ["liar"], .corrupt, now: 10)
        let verdict = state.accuse("receiver", digest: Self.digest, sources: ["relay", "liar"], .corrupt, now: 20)
        #expect(verdict.explained == ["relay"] && verdict.counted == ["liar"])
    }

    @Test("two reports undone by one explanation: newest first, so no strike of the older is left behind")
    func undoIsNewestFirst() {
        var state = Self.relayed()
        state.accuse("receiver", digest: Self.digest, sources: ["relay"], .truncated, now: 10)
        state.accuse("receiver", digest: Self.digest, sources: ["relay"], .truncated, now: 11)
        #expect(state.isExcluded("relay", for: "receiver", now: 11.5), "two strikes: conclusive")
        let own = state.accuse("relay", digest: Self.digest, sources: ["liar"], .corrupt, now: 12)
        #expect(own.withdrawn.count == 2)
        #expect(!state.isExcluded("relay", for: "receiver", now: 13))
        // No strike left: one weak report about another blob is one strike, not a second.
        _ = state.choose(for: "relay", digest: Self.other, size: 1000, leader: Self.whole, reachable: nil, now: 14)
        _ = state.choose(for: "x", digest: Self.other, size: 1000, leader: Self.whole, reachable: nil, now: 14)
        state.present("relay", digest: Self.other)
        #expect(state.choose(for: "receiver", digest: Self.other, size: 1000, leader: Self.whole, reachable: nil, now: 15).map(\.node).contains("relay"))
        state.accuse("receiver", digest: Self.other, sources: ["relay"], .truncated, now: 16)
        #expect(!state.isExcluded("relay", for: "receiver", now: 17))
    }
}
