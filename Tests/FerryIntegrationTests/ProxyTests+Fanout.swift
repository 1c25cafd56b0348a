import FerryCore
import FerryTestSupport
import Foundation
import Testing

/// Many customers pulling the same new release at once through a cold proxy.
extension ProxyTests {
    @Test("Eight licences pull the same new image at once through a cold proxy: every pull whole, one upstream copy and one HEAD of each blob")
    func concurrentCustomersCostOneUpstreamCopy() async throws {
        try await ProxyFixture.with("proxy-fanout", images: Self.faultImages, faults: FaultProxy.Plan()) { proxy in
            var licences: [String] = []
            for customer in 1...8 { licences.append(try await proxy.createLicence(customer: "customer\(customer)").id) }
            // Each customer: the manifest by tag, then every blob, all customers at once.
            let pulled = try await withThrowingTaskGroup(of: [Digest: Digest].self) { group in
                for licence in licences {
                    group.addTask {
                        var got: [Digest: Digest] = [:]
                        for blob in try await proxy.blobs(licence: licence) {
                            let response = try #require(try await proxy.blob(blob.digest, licence: licence))
                            #expect(response.status == 200, "\(response.statusLine) \(response.text.prefix(300))")
                            got[blob.digest] = Digest.sha256(of: response.body)
                        }
                        return got
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(pulled.count == 8)
            for got in pulled { #expect(!got.isEmpty && got.allSatisfy { $0.key == $0.value }) }
            // The vendor's registry sent each blob once.
            let blobs = try await proxy.blobs(licence: licences[0])
            let size = blobs.reduce(Int64(0)) { $0 + $1.size }
            #expect(proxy.faults!.blobBytesServed == size, "\(proxy.faults!.blobBytesServed) upstream bytes for \(size) of blobs")
            let gets = proxy.faults!.requests.filter { $0.method == "GET" && $0.path.contains("/blobs/") && $0.status == 200 }
            #expect(gets.count == blobs.count, "\(gets.map(\.path))")
            // And confirmed each once: one HEAD per blob, not one per customer, nor one per
            // request that came while the blob was still arriving (there were 2 for some).
            let heads = proxy.faults!.requests.filter { $0.method == "HEAD" && $0.path.contains("/blobs/") }
            #expect(heads.count == blobs.count, "\(heads.map(\.path))")
        }
    }
}
