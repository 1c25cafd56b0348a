import FerryCore
import FerryPolicy
import FerryMesh
import Testing

@testable import FerryCoordinator

/// The leader's tracker: uploads counted per (node, blob), requesters listed as receiving the
/// moment they are assigned a source.
@Suite("Tracker")
struct TrackerTests {
    static let blobs = (0..<4).map { Digest.sha256(of: Array("layer \($0)".utf8)) }
    static let followers = (1...11).map { $0 < 10 ? "f0\($0)" : "f\($0)" }
    static let growing = Tracker.Holding(complete: false, size: 1000)

    static func request(_ digest: Digest, have: Int64 = 0, failed: [String] = []) -> SourceRequest {
        SourceRequest(digest: digest, size: 1000, have: have, repository: "library/app", failed: failed)
    }

    /// Every follower asks for every blob at once, before any `receiving` event: a whole cluster
    /// starting an install together.
    static func simultaneousStart(_ tracker: Tracker) async -> [Digest: [String: String]] {
        var chosen: [Digest: [String: String]] = [:]
        for follower in followers {
            for digest in blobs {
                let ranked = await tracker.choose(
                    for: follower, request: request(digest), leader: growing, reachable: Set(followers))
                chosen[digest, default: [:]][follower] = ranked.first?.node
            }
        }
        return chosen
    }

    @Test("several requesters of several blobs at once: each blob fans out in its own tree, receivers listed at assignment")
    func perBlobTrees() async throws {
        let tracker = Tracker(selector: SourceSelector(leaderSlots: 2))  // 3 peer slots, 2 leader slots: a wide top
        let chosen = await Self.simultaneousStart(tracker)
        // The same tree for every blob: 2 under the leader, 3 under each of those, then the next level.
        let expected: [String: String] = [
            "f01": "leader", "f02": "leader",
            "f03": "f01", "f04": "f02", "f05": "f01", "f06": "f02", "f07": "f01", "f08": "f02",
            "f09": "f03", "f10": "f04", "f11": "f05",
        ]
        for digest in Self.blobs {
            #expect(chosen[digest] == expected, "blob \(digest)")
            #expect(await tracker.sources(of: digest) == expected)
            // Listed as receiving from assignment on, with no `receiving` event yet.
            #expect(await tracker.receivers(of: digest) == Self.followers)
            #expect(await tracker.uploads(of: "leader", digest: digest) == 2)
            #expect(await tracker.uploads(of: "f01", digest: digest) == 3)
            #expect(await tracker.uploads(of: "f03", digest: digest) == 1)
        }
        // Across blobs a node serves its slots for each: 3 × 4 streams, under the upload limit of 16.
        #expect(await tracker.uploads(of: "f01") == 12)
        #expect(await tracker.uploads(of: "leader") == 8)
    }

    @Test("the upload limit bounds what one node serves over all blobs")
    func uploadLimit() async throws {
        let tracker = Tracker(selector: SourceSelector(leaderSlots: 2, uploadLimit: 8))
        let chosen = await Self.simultaneousStart(tracker)
        for follower in Self.followers + ["leader"] {
            #expect(await tracker.uploads(of: follower) <= 8, "\(follower)")
        }
        // f01 and f02 reach 8 streams after two receivers each (4 blobs apiece), not six: the
        // next receivers go a level down, where without the limit they went to f01.
        #expect(chosen[Self.blobs[0]]?["f07"] == "f03")
        let unbounded = await Self.simultaneousStart(Tracker(selector: SourceSelector(leaderSlots: 2)))
        #expect(unbounded[Self.blobs[0]]?["f07"] == "f01")
    }

    @Test("by default the leader serves each blob to one receiver; everyone else hangs below it, 3 per node")
    func defaultTreeHasOneRoot() async throws {
        let tracker = Tracker(selector: SourceSelector())
        let chosen = await Self.simultaneousStart(tracker)
        for digest in Self.blobs {
            let feeds = try #require(chosen[digest])
            #expect(feeds.count == Self.followers.count)
            #expect(feeds.values.filter { $0 == "leader" }.count == 1, "one receiver of \(digest) from the leader")
            #expect(await tracker.uploads(of: "leader", digest: digest) == 1)
            for follower in Self.followers {
                #expect(await tracker.uploads(of: follower, digest: digest) <= 3, "\(follower) within its peer slots")
                // Every chain reaches the leader within 3 hops (1 + 3 + 9 ≥ 11 nodes), with no loop.
                var node = follower
                var hops = 0
                while node != "leader", hops <= 3, let source = feeds[node] { node = source; hops += 1 }
                #expect(node == "leader" && hops <= 3, "\(follower) is \(hops) hops from \(node)")
            }
        }
        #expect(await tracker.uploads(of: "leader") == Self.blobs.count)
    }

    @Test("a requester that gives up (gone) or goes away (forget) is no longer offered; its slots are freed")
    func givingUpIsForgotten() async throws {
        let tracker = Tracker(selector: SourceSelector(leaderSlots: 2))
        let digest = Self.blobs[0]
        let reachable = Set(Self.followers)
        for follower in ["f01", "f02", "f03"] {
            _ = await tracker.choose(for: follower, request: Self.request(digest), leader: Self.growing, reachable: reachable)
        }
        #expect(await tracker.sources(of: digest) == ["f01": "leader", "f02": "leader", "f03": "f01"])
        // f01 gives up: MeshFetcher sends `gone`.
        await tracker.record(BlobEvents(events: [BlobEvent(digest: digest, kind: .gone, size: 1000)]), from: "f01")
        #expect(await tracker.receivers(of: digest) == ["f02", "f03"])
        #expect(await tracker.uploads(of: "leader", digest: digest) == 1)
        // f03's feed from f01 fails; it asks again with f01 in `failed` and is not sent back.
        let again = await tracker.choose(
            for: "f03", request: Self.request(digest, failed: ["f01"]), leader: Self.growing, reachable: reachable)
        #expect(again.first?.node == "leader")
        #expect(!again.map(\.node).contains("f01"))
        #expect(await tracker.uploads(of: "f01") == 0)
        // f02 stops being seen: forgotten as a receiver and as a source.
        let f04 = await tracker.choose(for: "f04", request: Self.request(digest), leader: Self.growing, reachable: reachable)
        #expect(f04.first?.node == "f02")
        await tracker.forget("f02")
        #expect(await tracker.receivers(of: digest) == ["f03", "f04"])
        #expect(await tracker.uploads(of: "f02") == 0)
        #expect(await tracker.sources(of: digest)["f04"] == nil)
        #expect(await tracker.uploads(of: "leader", digest: digest) == 1, "f03 still pulls from the leader")
    }

    @Test("no source, no listing; a complete holder stays complete when it asks again")
    func onlyAssignedRequestersAreListed() async throws {
        let tracker = Tracker(selector: SourceSelector())
        let digest = Self.blobs[0]
        let none = await tracker.choose(for: "f01", request: Self.request(digest), leader: nil, reachable: Set(Self.followers))
        #expect(none.isEmpty)
        #expect(await tracker.receivers(of: digest).isEmpty)
        // f02 was handed a source (claims count only then), fetched the blob and says so.
        _ = await tracker.choose(for: "f02", request: Self.request(digest), leader: Self.growing, reachable: Set(Self.followers))
        await tracker.record(BlobEvents(events: [BlobEvent(digest: digest, kind: .present, size: 1000)]), from: "f02")
        _ = await tracker.choose(for: "f02", request: Self.request(digest), leader: Self.growing, reachable: Set(Self.followers))
        #expect(await tracker.holders(of: digest) == ["f02"])
        #expect(await tracker.receivers(of: digest).isEmpty)
    }
}
