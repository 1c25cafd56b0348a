import FerryCore
import FerryPolicy
import Testing

/// The tracker's rules of evidence: only first-hand evidence counts, one liar slows only itself.
@Suite("TrackerState evidence")
struct TrackerStateTests {
    static let digest = Digest.sha256(of: Array("layer".utf8))
    static let other = Digest.sha256(of: Array("other layer".utf8))
    static let whole = TrackerState.Holding(complete: true, size: 1000)

    /// A tracker where `holders` hold `digest` completely (each was handed the leader, then said present).
    static func tracker(holders: [String], digest: Digest = digest, rules: EvidenceRules = .init()) -> TrackerState {
        var state = TrackerState(selector: SourceSelector(), evidence: rules)
        for node in holders {
            _ = state.choose(for: node, digest: digest, size: 1000, leader: whole, reachable: nil, now: 0)
            state.present(node, digest: digest)
        }
        return state
    }

    static func first(_ state: inout TrackerState, for node: String, digest: Digest = digest, now: Double = 1) -> String? {
        state.choose(for: node, digest: digest, size: 1000, leader: whole, reachable: nil, now: now).first?.node
    }

    @Test("an accusation counts only against sources the tracker handed the accuser for that blob")
    func onlyHandedSourcesCount() {
        var state = Self.tracker(holders: ["h1", "h2"])
        // The liar was never handed anything for the blob: its report names honest nodes and the leader.
        let verdict = state.accuse("liar", digest: Self.digest, sources: ["leader", "h1", "h2"], .corrupt, now: 1)
        #expect(verdict.counted.isEmpty && !verdict.checkLeader)
        #expect(!state.isExcluded("h1", for: "liar", now: 2))
        #expect(state.flagged(now: 2).isEmpty)
        // Handed h1 only: a report naming h2 as well counts against h1 alone (weakly: two names).
        #expect(Self.first(&state, for: "liar") == "h1")
        let second = state.accuse("liar", digest: Self.digest, sources: ["h1", "h2"], .corrupt, now: 2)
        #expect(second.counted == ["h1"])
    }

    @Test("the leader is never excluded on a node's word: it is asked to re-verify, at most once per interval")
    func leaderIsRecheckedNotSuspected() {
        var state = TrackerState(selector: SourceSelector(), evidence: EvidenceRules(leaderCheckInterval: 300))
        for accuser in ["a", "b", "c"] {
            _ = Self.first(&state, for: accuser)
        }
        #expect(state.handed(to: "a", digest: Self.digest).contains("leader"))
        #expect(state.accuse("a", digest: Self.digest, sources: ["leader"], .corrupt, now: 10).checkLeader)
        #expect(!state.accuse("b", digest: Self.digest, sources: ["leader"], .corrupt, now: 20).checkLeader, "rate-limited")
        #expect(state.accuse("c", digest: Self.digest, sources: ["leader"], .overflow, now: 311).checkLeader)
        #expect(state.flagged(now: 400).isEmpty)
        // The accusers are still sent to the leader (b and c pull from a: a gets the leader).
        #expect(Self.first(&state, for: "a", now: 30) == "leader")
        #expect(!state.isExcluded("leader", for: "b", now: 30))
        #expect(!state.choose(for: "b", digest: Self.digest, size: 1000, leader: Self.whole, reachable: nil, now: 30).filter { $0.node == "leader" }.isEmpty)
    }

    @Test("one accuser's conclusive report excludes the source for that accuser only, for every blob")
    func oneAccuserExcludesForItself() {
        var state = Self.tracker(holders: ["bad"])
        state = Self.withOther(state, holders: ["bad"])
        #expect(Self.first(&state, for: "victim") == "bad")
        state.accuse("victim", digest: Self.digest, sources: ["bad"], .corrupt, now: 2)
        #expect(state.isExcluded("bad", for: "victim", now: 3))
        #expect(!state.isExcluded("bad", for: "bystander", now: 3))
        #expect(Self.first(&state, for: "victim", now: 3) == "leader")
        #expect(Self.first(&state, for: "victim", digest: Self.other, now: 3) == "leader", "every blob")
        #expect(Self.first(&state, for: "bystander", now: 3) == "bad")
        #expect(state.flagged(now: 3).isEmpty)
        // The exclusion decays.
        #expect(!state.isExcluded("bad", for: "victim", now: 2 + 601))
    }

    @Test("a quorum of distinct accusers flags the source for the operator, until it decays, and excludes it for no one else: one join token joins any number of names")
    func quorumFlagsButExcludesOnlyTheAccusers() {
        var state = Self.tracker(holders: ["bad"])
        for victim in ["v1", "v2"] {
            #expect(Self.first(&state, for: victim) == "bad")
            state.gone(victim, digest: Self.digest)
        }
        state.accuse("v1", digest: Self.digest, sources: ["bad"], .overflow, now: 2)
        state.accuse("v1", digest: Self.digest, sources: ["bad"], .overflow, now: 3)  // the same accuser again: still one
        #expect(state.flagged(now: 4).isEmpty)
        let verdict = state.accuse("v2", digest: Self.digest, sources: ["bad"], .stalled, now: 5)
        #expect(verdict.flagged == ["bad"])
        #expect(state.flagged(now: 6) == ["bad": 2])
        // Two names prove nothing (a join token joins any number): for anyone else the source
        // stays what it was, while each accuser avoids it.
        #expect(!state.isExcluded("bad", for: "anyone", now: 6))
        #expect(Self.first(&state, for: "anyone", now: 6) == "bad")
        #expect(state.isExcluded("bad", for: "v1", now: 6) && state.isExcluded("bad", for: "v2", now: 6))
        #expect(state.flagged(now: 5 + 601).isEmpty)
    }

    @Test("a flagged node named in a corrupt report is asked to re-verify its copy, once per interval; one accuser alone, or a stall, never asks")
    func flaggedNodeIsAskedToRecheck() {
        var state = Self.tracker(holders: ["bad"], rules: EvidenceRules(leaderCheckInterval: 300))
        for victim in ["v1", "v2", "v3", "v4"] {
            #expect(Self.first(&state, for: victim) == "bad")
            state.gone(victim, digest: Self.digest)
        }
        // One accuser (a liar, perhaps) makes nobody hash anything.
        #expect(state.accuse("v1", digest: Self.digest, sources: ["bad"], .corrupt, now: 2).checkPeers.isEmpty)
        // The second makes the quorum: the flagged node is asked, for this blob.
        let quorum = state.accuse("v2", digest: Self.digest, sources: ["bad"], .corrupt, now: 3)
        #expect(quorum.flagged == ["bad"] && quorum.checkPeers == ["bad"])
        // Asked once per interval, however many report it meanwhile; a stall is no reason to hash.
        #expect(state.accuse("v3", digest: Self.digest, sources: ["bad"], .corrupt, now: 4).checkPeers.isEmpty)
        #expect(state.accuse("v4", digest: Self.digest, sources: ["bad"], .stalled, now: 304).checkPeers.isEmpty)
        #expect(state.accuse("v4", digest: Self.digest, sources: ["bad"], .overflow, now: 305).checkPeers == ["bad"])
        // Never the leader, which re-verifies on its own rule (checkLeader).
        var leader = Self.tracker(holders: [])
        for victim in ["v1", "v2"] { _ = Self.first(&leader, for: victim) }
        #expect(leader.accuse("v1", digest: Self.digest, sources: ["leader"], .corrupt, now: 2).checkPeers.isEmpty)
        #expect(leader.accuse("v2", digest: Self.digest, sources: ["leader"], .corrupt, now: 3).checkPeers.isEmpty)
    }

    @Test("weak reports are strikes: several sources in one corrupt report, or a transfer that ended early")
    func weakReportsAreStrikes() {
        var state = Self.tracker(holders: ["p1", "p2"])
        #expect(Self.first(&state, for: "v") == "p1")
        #expect(state.choose(for: "v", digest: Self.digest, size: 1000, failed: ["p1"], leader: Self.whole, reachable: nil, now: 1).first?.node == "p2")
        state.accuse("v", digest: Self.digest, sources: ["p1", "p2"], .corrupt, now: 2)
        #expect(!state.isExcluded("p1", for: "v", now: 3) && !state.isExcluded("p2", for: "v", now: 3))
        state.accuse("v", digest: Self.digest, sources: ["p2"], .truncated, now: 4)
        #expect(state.isExcluded("p2", for: "v", now: 5), "two strikes from one accuser make a conclusive report")
        #expect(!state.isExcluded("p1", for: "v", now: 5))
    }

    @Test("claims count only after the tracker handed the node a source, or with proof after a restart")
    func claimsNeedAHandout() {
        var state = TrackerState(selector: SourceSelector())
        state.present("liar", digest: Self.digest)
        state.receiving("liar2", digest: Self.digest)
        #expect(state.holders(of: Self.digest).isEmpty && state.receivers(of: Self.digest).isEmpty)
        #expect(Self.first(&state, for: "honest") == "leader")
        // An inventory after a restart: only proven blobs count.
        state.inventory("old", present: [Self.digest, Self.other], proven: [Self.other])
        #expect(state.holders(of: Self.other) == ["old"])
        #expect(state.holders(of: Self.digest).isEmpty)
        #expect(!state.needsInventory("old"))
    }

    @Test("pruned and full views choose the same source, with exclusions, failures and resumes")
    func prunedMatchesFull() {
        var random = 0x9E37_79B9_7F4A_7C15 as UInt64
        func next(_ bound: Int) -> Int {
            random = random &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((random >> 33) % UInt64(bound))
        }
        let nodes = (0..<40).map { "n\($0 < 10 ? "0" : "")\($0)" }
        let digests = (0..<3).map { Digest.sha256(of: Array("blob \($0)".utf8)) }
        var state = TrackerState(selector: SourceSelector(uploadLimit: 6))
        for step in 0..<2000 {
            let node = nodes[next(nodes.count)]
            let digest = digests[next(digests.count)]
            let now = Double(step)
            switch next(10) {
            case 0: state.present(node, digest: digest)
            case 1: state.gone(node, digest: digest)
            case 2:
                let handed = Array(state.handed(to: node, digest: digest))
                if let source = handed.randomElement() { state.accuse(node, digest: digest, sources: [source], .stalled, now: now) }
            case 3: state.forget(node)
            default:
                let failed = next(4) == 0 ? [nodes[next(nodes.count)]] : []
                let have: Int64 = next(5) == 0 ? 10 : 0
                let leader = next(6) == 0 ? nil : TrackerState.Holding(complete: next(2) == 0, size: 1000)
                let reachable: Set<String>? = next(5) == 0 ? Set(nodes.filter { _ in next(4) > 0 }) : nil
                var copy = state
                let full = copy.choose(
                    for: node, digest: digest, size: 1000, have: have, failed: failed, leader: leader, reachable: reachable, now: now, view: .full)
                let pruned = state.choose(
                    for: node, digest: digest, size: 1000, have: have, failed: failed, leader: leader, reachable: reachable, now: now)
                #expect(full.first?.node == pruned.first?.node, "step \(step)")
            }
        }
    }

    static func withOther(_ state: TrackerState, holders: [String]) -> TrackerState {
        var state = state
        for node in holders {
            _ = state.choose(for: node, digest: other, size: 1000, leader: whole, reachable: nil, now: 0)
            state.present(node, digest: other)
        }
        return state
    }
}
