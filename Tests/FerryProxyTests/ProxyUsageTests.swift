import FerryProxy
import Foundation
import Testing

@Suite("ProxyUsage")
struct ProxyUsageTests {
    static func pull(_ kind: String, _ status: Int, bytes: Int64 = 0) -> PullRecord {
        PullRecord(at: Date(), licence: 2, app: "shop", repository: "team/app", kind: kind, digest: "sha256:x", bytes: bytes, status: status, client: "c")
    }

    @Test("pulls, refusals (401, 403) and other failures (404, 416, 429, 502) are counted apart")
    func counts() {
        let usage = ProxyUsage([
            Self.pull("manifest", 200, bytes: 10), Self.pull("blob", 206, bytes: 5), Self.pull("blob", 403), Self.pull("blob", 401),
            Self.pull("manifest", 404), Self.pull("blob", 416), Self.pull("blob", 429), Self.pull("blob", 502),
        ])
        #expect(usage.rows.count == 1)
        let row = usage.rows[0]
        #expect((row.manifests, row.blobs, row.bytes, row.refused, row.failed) == (1, 1, 15, 2, 4))
        #expect(row.line == "licence=2\tteam/app\tmanifests=1\tblobs=1\tbytes=15\trefused=2\tfailed=4")
    }
}
