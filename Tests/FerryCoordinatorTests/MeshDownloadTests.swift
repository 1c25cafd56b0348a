import FerryCore
import FerryMesh
import Testing

@testable import FerryCoordinator

/// The mesh download's decisions, driven event by event: no network, no store.
@Suite("MeshDownload")
struct MeshDownloadTests {
    static let digest = Digest.sha256(of: Array("blob".utf8))
    static let leader = BlobSource(node: "leader", kind: .leader, url: "/v2/app/blobs/x", token: nil)
    static let peer = BlobSource(node: "n1", kind: .peer, url: "https://n1:7000/v2/app/blobs/x", token: "t")
    static let other = BlobSource(node: "n2", kind: .peer, url: "https://n2:7000/v2/app/blobs/x", token: "t")

    /// A download of `digest` (100 bytes, none held) fetching from `source`, its first answer.
    static func fetching(from source: BlobSource) -> MeshDownload {
        var download = MeshDownload(digest: digest, size: 100)
        _ = download.started(held: 0)
        _ = download.answered([source], have: 0, random: 0)
        return download
    }

    @Test("a blob already held is committed without asking for sources")
    func alreadyHeld() {
        var download = MeshDownload(digest: Self.digest, size: 100)
        #expect(download.started(held: 100) == .commit)
        #expect(download.committed() == .succeed)
    }

    @Test("a fresh download asks, announces receiving once, fetches from the first source and commits")
    func happyPath() {
        var download = MeshDownload(digest: Self.digest, size: 100)
        #expect(download.started(held: 0) == .askSources(have: 0, failed: []))
        #expect(download.answered([Self.peer, Self.leader], have: 0, random: 0) == .fetch(Self.peer, from: 0, announce: true))
        #expect(download.fetched(from: Self.peer, .complete, have: 100) == .commit)
        #expect(download.committed() == .succeed)
    }

    @Test("a failing source is left out at the offset reached, and only until one succeeds")
    func failover() {
        var download = Self.fetching(from: Self.peer)
        #expect(download.fetched(from: Self.peer, .failed("HTTP 500"), have: 40) == .askSources(have: 40, failed: ["n1"]))
        // Announced already: the next source is fetched without announcing again, from 40.
        #expect(download.answered([Self.other], have: 40, random: 0) == .fetch(Self.other, from: 40, announce: false))
        #expect(download.fetched(from: Self.other, .failed("ended early"), have: 60) == .askSources(have: 60, failed: ["n1", "n2"]))
        _ = download.answered([Self.leader], have: 60, random: 0)
        #expect(download.fetched(from: Self.leader, .complete, have: 100) == .commit)
        #expect(download.failed.isEmpty)
        #expect(download.contributors == ["n1", "n2", "leader"])
    }

    /// The tracker sends a node back to the leader whatever the node reported of it: a leader
    /// that fails every request at once (say, a disk error reading its copy) must not be asked
    /// in a loop.
    @Test("fetches that fail at once, without a byte, back off from the second; a fetch that moves, or a stall, does not")
    func fruitlessFetchesBackOff() {
        var download = Self.fetching(from: Self.leader)
        #expect(download.fetched(from: Self.leader, .failed("HTTP 500"), have: 0) == .askSources(have: 0, failed: ["leader"]))
        _ = download.answered([Self.leader], have: 0, random: 0)
        #expect(download.fetched(from: Self.leader, .truncated("broke off"), have: 0) == .accuse(.truncated, source: "leader"))
        guard case .wait(let first, discard: false) = download.accused() else {
            Issue.record("the second fruitless fetch did not wait")
            return
        }
        #expect(first > .zero)
        #expect(download.waited(have: 0) == .askSources(have: 0, failed: ["leader"]))
        _ = download.answered([Self.leader], have: 0, random: 0)
        guard case .wait(let second, discard: false) = download.fetched(from: Self.leader, .failed("HTTP 500"), have: 0) else {
            Issue.record("the third fruitless fetch did not wait")
            return
        }
        #expect(second > first)
        // Another source failing at once is a failover, not a loop: no wait.
        _ = download.answered([Self.peer], have: 0, random: 0)
        #expect(download.fetched(from: Self.peer, .failed("refused"), have: 0) == .askSources(have: 0, failed: ["leader", "n1"]))
        // A fetch that brought bytes starts the count again.
        _ = download.answered([Self.leader], have: 0, random: 0)
        #expect(download.fetched(from: Self.leader, .failed("HTTP 500"), have: 30) == .askSources(have: 30, failed: ["leader", "n1"]))
        #expect(download.fruitless == 0)
    }

    @Test("told its bytes came in part from a source that reported the blob bad, the node discards them and starts over")
    func suspectBytesAreDiscarded() {
        var download = Self.fetching(from: Self.peer)
        #expect(download.fetched(from: Self.peer, .truncated("ended early"), have: 60) == .accuse(.truncated, source: "n1"))
        #expect(download.accused() == .askSources(have: 60, failed: ["n1"]))
        // Another source's bad report: bytes held came from n1 only, so they are kept.
        #expect(download.answered([Self.leader], have: 60, random: 0, suspect: ["n2"]) == .fetch(Self.leader, from: 60, announce: false))
        _ = download.fetched(from: Self.leader, .failed("broke"), have: 70)
        #expect(download.answered([Self.other], have: 70, random: 0, suspect: ["n1"]) == .discard)
        #expect(download.contributors.isEmpty)
        #expect(download.discarded() == .askSources(have: 0, failed: ["n1", "leader"]))
        #expect(download.answered([Self.leader], have: 0, random: 0) == .fetch(Self.leader, from: 0, announce: false))
        #expect(download.fetched(from: Self.leader, .complete, have: 100) == .commit)
        #expect(download.contributors == ["leader"], "a failure now names the leader alone: conclusive")
        // Nothing held: nothing to discard (an older leader never says so; a fresh start needs nothing).
        var fresh = MeshDownload(digest: Self.digest, size: 100)
        _ = fresh.started(held: 0)
        #expect(fresh.answered([Self.peer], have: 0, random: 0, suspect: ["n1"]) == .fetch(Self.peer, from: 0, announce: true))
        // Discarded once, the bytes fetched afterwards are not thrown away for the same source again.
        #expect(download.contributors == ["leader"])
        #expect(download.answered([Self.other], have: 50, random: 0, suspect: ["n1"]) != .discard)
    }

    @Test("a source that sends more than the blob's size is accused alone and everything held is discarded")
    func overflow() {
        var download = Self.fetching(from: Self.leader)
        _ = download.fetched(from: Self.leader, .failed("broke"), have: 50)
        _ = download.answered([Self.peer], have: 50, random: 0)
        #expect(download.fetched(from: Self.peer, .overflow, have: 100) == .restart(accused: ["n1"], kind: .overflow))
        #expect(download.restarted() == .askSources(have: 0, failed: ["n1"]))
        // A fresh ingest: receiving is announced again.
        #expect(download.answered([Self.leader], have: 0, random: 0) == .fetch(Self.leader, from: 0, announce: true))
    }

    @Test("bytes failing verification accuse exactly the sources they came from; the third time the blob fails")
    func verification() {
        var download = Self.fetching(from: Self.peer)
        _ = download.fetched(from: Self.peer, .failed("broke"), have: 30)
        _ = download.answered([Self.other], have: 30, random: 0)
        _ = download.fetched(from: Self.other, .complete, have: 100)
        #expect(download.verificationFailed() == .restart(accused: ["n1", "n2"], kind: .corrupt))
        #expect(download.restarted() == .askSources(have: 0, failed: ["n1", "n2"]))
        _ = download.answered([Self.leader], have: 0, random: 0)
        _ = download.fetched(from: Self.leader, .complete, have: 100)
        #expect(download.verificationFailed() == .restart(accused: ["leader"], kind: .corrupt))
        _ = download.restarted()
        _ = download.answered([Self.leader], have: 0, random: 0)
        _ = download.fetched(from: Self.leader, .complete, have: 100)
        guard case .fail(let error) = download.verificationFailed() else {
            Issue.record("the third corruption must fail the blob")
            return
        }
        #expect(error.code == .digestMismatch)
    }

    @Test("no source yet: wait with growing delays, capped; bytes from sources that vanished are discarded")
    func waiting() {
        var download = MeshDownload(digest: Self.digest, size: 100)
        _ = download.started(held: 0)
        var delays: [Duration] = []
        for _ in 0..<10 {
            guard case .wait(let delay, let discard) = download.answered([], have: 0, random: 1) else {
                Issue.record("an empty answer must wait")
                return
            }
            #expect(!discard)
            delays.append(delay)
            #expect(download.waited(have: 0) == .askSources(have: 0, failed: []))
        }
        #expect(delays.first == .milliseconds(200))
        #expect(delays == delays.sorted())
        #expect(delays.last == .seconds(2))

        // Bytes held from a source that then failed, and nobody can serve any more: discard them.
        _ = download.answered([Self.peer], have: 0, random: 0)
        _ = download.fetched(from: Self.peer, .failed("gone"), have: 70)
        guard case .wait(_, let discard) = download.answered([], have: 70, random: 0) else {
            Issue.record("an empty answer must wait")
            return
        }
        #expect(discard)
        #expect(download.contributors.isEmpty)
        #expect(download.waited(have: 0) == .askSources(have: 0, failed: []))
    }
}
