import FerryCore
import FerryPolicy
import Testing

@Suite("SourceSelector")
struct SourceSelectorTests {
    static func peer(_ node: String, complete: Bool = true, bytes: Int64 = 100, uploads: Int = 0) -> SourceCandidate {
        SourceCandidate(node: node, kind: .peer, complete: complete, bytes: complete ? 100 : bytes, activeUploads: uploads)
    }

    static func leader(uploads: Int = 0, complete: Bool = true, bytes: Int64 = 100) -> SourceCandidate {
        SourceCandidate(node: "leader", kind: .leader, complete: complete, bytes: bytes, activeUploads: uploads)
    }

    let selector = SourceSelector(peerSlots: 2, leaderSlots: 2)

    @Test func completePeersWithFreeSlotsComeFirstLeastLoadedFirst() {
        let ranked = selector.rank(requester: "a", have: 0, candidates: [Self.leader(), Self.peer("b", uploads: 1), Self.peer("c")])
        #expect(ranked.map(\.node) == ["c", "b", "leader"])
    }

    @Test func receivingPeersAheadOfTheRequesterServeByCutThrough() {
        let candidates = [Self.leader(uploads: 2), Self.peer("b", complete: false, bytes: 40), Self.peer("c", complete: false, bytes: 70),
                          Self.peer("d", complete: false, bytes: 5)]
        let ranked = selector.rank(requester: "a", have: 10, candidates: candidates)
        #expect(ranked.map(\.node) == ["c", "b", "leader"], "d is behind the requester; the leader is full")
    }

    @Test func whileABlobArrivesTheLeadersSlotsFillFirstThenShallowPeers() {
        let candidates = [Self.leader(complete: false, bytes: 50), Self.peer("b", complete: false, bytes: 50), Self.peer("c", complete: false, bytes: 60)]
        #expect(selector.rank(requester: "a", have: 0, candidates: candidates, feeds: ["b": "leader", "c": "b"]).map(\.node) == ["leader", "b", "c"])
    }

    @Test func aLeaderHoldingTheWholeBlobComesAfterReceivingPeersWithFreeSlots() {
        let candidates = [Self.leader(), Self.peer("b", complete: false, bytes: 50), Self.peer("c", complete: false, bytes: 60, uploads: 2)]
        let ranked = selector.rank(requester: "a", have: 0, candidates: candidates, feeds: ["b": "leader", "c": "leader"])
        #expect(ranked.map(\.node) == ["b", "leader", "c"], "b has a free slot; c is full, so the leader before it")
        #expect(SourceSelector().leaderSlots == 1)
    }

    @Test func theLeaderServesWhenNoPeerCan() {
        #expect(selector.rank(requester: "a", have: 0, candidates: [Self.leader()]).map(\.node) == ["leader"])
        #expect(selector.rank(requester: "a", have: 0, candidates: [Self.leader(uploads: 5)]).map(\.node) == ["leader"], "even over its cap")
    }

    @Test func overCapSourcesStillAnswerPeersBeforeTheLeader() {
        let ranked = selector.rank(requester: "a", have: 0, candidates: [Self.leader(uploads: 2), Self.peer("b", uploads: 3), Self.peer("c", uploads: 2)])
        #expect(ranked.map(\.node) == ["c", "b", "leader"])
        let leaderFree = selector.rank(requester: "a", have: 0, candidates: [Self.leader(uploads: 1), Self.peer("b", uploads: 2)])
        #expect(leaderFree.map(\.node) == ["leader", "b"], "a leader with a free slot beats a full peer")
    }

    @Test func slotsAreCountedPerBlobAndBoundedOverallByTheUploadLimit() {
        let selector = SourceSelector(peerSlots: 2, leaderSlots: 2, uploadLimit: 5)
        // b serves one receiver of this blob and three of others: a free slot for this blob.
        let b = SourceCandidate(node: "b", kind: .peer, complete: true, bytes: 100, activeUploads: 1, totalUploads: 4)
        let c = SourceCandidate(node: "c", kind: .peer, complete: true, bytes: 100, activeUploads: 2, totalUploads: 2)
        #expect(selector.rank(requester: "a", have: 0, candidates: [Self.leader(), b, c]).map(\.node) == ["b", "leader", "c"])
        // At the limit over all blobs, b counts as over its cap, whatever its slots for this blob.
        var busy = b
        busy.totalUploads = 5
        #expect(selector.rank(requester: "a", have: 0, candidates: [Self.leader(), busy, c]).map(\.node) == ["leader", "b", "c"])
        let leader = SourceCandidate(node: "leader", kind: .leader, complete: true, bytes: 100, activeUploads: 0, totalUploads: 5)
        #expect(selector.rank(requester: "a", have: 0, candidates: [leader, c]).map(\.node) == ["c", "leader"], "the leader is bounded too")
    }

    @Test func totalUploadsDefaultToTheBlobsOwn() {
        let candidate = SourceCandidate(node: "b", kind: .peer, complete: true, bytes: 100, activeUploads: 3)
        #expect(candidate.totalUploads == 3)
        #expect(SourceCandidate(node: "b", kind: .peer, complete: true, bytes: 100, activeUploads: 3, totalUploads: 1).totalUploads == 3)
        #expect(SourceSelector().uploadLimit == 16)
    }

    @Test func suspectsTheRequesterAndDisabledPeersAreNeverChosen() {
        let candidates = [Self.leader(), Self.peer("a"), Self.peer("b"), Self.peer("c")]
        #expect(selector.rank(requester: "a", have: 0, candidates: candidates, suspects: ["b"]).map(\.node) == ["c", "leader"])
        let noPeers = SourceSelector(peersEnabled: false)
        #expect(noPeers.rank(requester: "a", have: 0, candidates: candidates).map(\.node) == ["leader"])
        #expect(selector.rank(requester: "a", have: 0, candidates: [Self.peer("b")], suspects: ["b"]).isEmpty)
    }

    @Test func noCyclesOfNodesWaitingOnEachOther() {
        // b pulls from c, c pulls from a: a must not pull from b or c while they are behind.
        let feeds = ["b": "c", "c": "a"]
        let candidates = [Self.leader(), Self.peer("b", complete: false, bytes: 50), Self.peer("c", complete: false, bytes: 50)]
        #expect(selector.rank(requester: "a", have: 0, candidates: candidates, feeds: feeds).map(\.node) == ["leader"])
        // A complete peer has nothing to wait for, whoever it pulled from.
        let done = [Self.leader(), Self.peer("b")]
        #expect(selector.rank(requester: "a", have: 0, candidates: done, feeds: ["b": "a"]).map(\.node) == ["b", "leader"])
    }

    @Test func aTreeFormsAsNodesJoinOneByOne() {
        // Nodes ask in turn; each assignment adds an upload to its source and the node becomes a
        // receiving peer. With 2 slots per source, 14 nodes need no more than 2 leader slots.
        var candidates = [Self.leader(complete: false, bytes: 0)]
        var feeds: [String: String] = [:]
        for index in 0..<14 {
            let node = "n\(index)"
            guard let source = selector.rank(requester: node, have: 0, candidates: candidates, feeds: feeds).first else {
                Issue.record("no source for \(node)")
                return
            }
            feeds[node] = source.node
            if let position = candidates.firstIndex(where: { $0.node == source.node }) { candidates[position].activeUploads += 1 }
            candidates.append(Self.peer(node, complete: false, bytes: 0))
        }
        #expect(candidates.first { $0.node == "leader" }?.activeUploads == 2)
        #expect(candidates.allSatisfy { $0.activeUploads <= 2 })
        // A binary tree: 2 + 4 + 8 nodes at depths 1, 2, 3.
        func depth(_ node: String) -> Int { feeds[node].map { $0 == "leader" ? 1 : 1 + depth($0) } ?? 0 }
        #expect(candidates.map { depth($0.node) }.max()! == 3)
    }
}
