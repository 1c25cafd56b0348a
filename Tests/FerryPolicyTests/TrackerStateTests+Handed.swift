import FerryCore
import FerryPolicy
import Testing

extension TrackerStateTests {
    @Test("the record of sources handed per (receiver, blob) is bounded: entries expire a lifetime after they were last handed")
    func handedRecordsExpire() {
        var state = TrackerState(selector: SourceSelector(), evidence: EvidenceRules(handedLifetime: 100))
        for index in 0..<50 {
            let digest = Digest.sha256(of: Array("blob \(index)".utf8))
            _ = state.choose(for: "r\(index % 5)", digest: digest, size: 1000, leader: Self.whole, reachable: nil, now: Double(index))
        }
        #expect(state.handedRecords == 50)
        // Asked again recently: kept; handed long ago: forgotten at the next request.
        _ = state.choose(for: "r0", digest: Self.digest, size: 1000, leader: Self.whole, reachable: nil, now: 140)
        #expect(state.handedRecords == 51 - 40, "the 40 handed before t=40 are gone")
        #expect(state.handed(to: "r0", digest: Self.digest) == ["leader"])
        // An accusation about a forgotten hand-out no longer counts.
        let old = Digest.sha256(of: Array("blob 0".utf8))
        #expect(!state.accuse("r0", digest: old, sources: ["leader"], .corrupt, now: 141).checkLeader)
        _ = state.choose(for: "r1", digest: Self.other, size: 1000, leader: Self.whole, reachable: nil, now: 1000)
        #expect(state.handedRecords == 1)
    }
}
