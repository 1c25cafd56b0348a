import FerryCore
import FerryMesh
import FerryTestSupport
import Foundation
import Testing

extension SecurityTests {
    @Test("A node credential reads through the leader only blobs and manifests of images it installs or holds, and gets sources only for those")
    func nodeReadsOnlyItsImages() async throws {
        try await TestCluster.with("secread", nodes: ["n1"]) { cluster in
            let mine = try await cluster.push("demo/mine:1", layers: [.init("mine", "64K")], busybox: false)
            let other = try await cluster.push("demo/other:1", layers: [.init("other", "64K")], busybox: false)
            _ = try await cluster.admin.fetch(FetchRequest(images: [mine, other]))
            try await waitUntil("the leader holds both images") {
                try await cluster.admin.images().images.filter { $0.state == .present }.count == 2
            }
            let mallory = try await MaliciousNode.join(cluster, name: "mallory")
            let host = cluster.registry.host

            func content(_ reference: String) async throws -> (repository: String, tag: String, manifest: String, blobs: [BlobStatus]) {
                let image = try #require(try await cluster.admin.images().images.first { $0.reference == reference })
                let detail = try await cluster.admin.image(id: image.id)
                let repoTag = reference.drop { $0 != "/" }.dropFirst().split(separator: ":")
                return (String(repoTag[0]), String(repoTag[1]), try #require(detail.manifestDigest), try #require(detail.blobs))
            }
            func get(_ path: String, token: String? = nil) async throws -> RawHTTPResponse {
                if token == nil { return try #require(try await mallory.raw("GET", path)) }
                let request = "GET \(path) HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(token!)\r\nConnection: close\r\n\r\n"
                return try #require(try await RawHTTPConnection.exchange(url: cluster.leader.url, caFile: cluster.leader.caFile, request))
            }
            /// Mallory's reads of an image: every one answers as if the leader did not hold it, or every one succeeds.
            func expectReads(_ reference: String, allowed: Bool) async throws {
                let image = try await content(reference)
                for blob in image.blobs {
                    let answer = try await get("/v2/\(image.repository)/blobs/\(blob.digest)")
                    #expect(answer.status == (allowed ? 200 : 404), "\(reference) blob: \(answer.statusLine)")
                    if !allowed { #expect(answer.text.contains("\"BLOB_UNKNOWN\""), "\(answer.text)") }
                    do {
                        let sources = try await mallory.sources(for: try Digest(parsing: blob.digest), size: blob.size, repository: image.repository)
                        #expect(allowed, "sources for \(reference): \(sources.sources.map(\.node))")
                    } catch let error as FerryError {
                        #expect(!allowed && error.code == .blobUnknown, "\(error)")
                    }
                }
                let byDigest = try await get("/v2/\(image.repository)/manifests/\(image.manifest)")
                #expect(byDigest.status == (allowed ? 200 : 404), "\(reference) manifest: \(byDigest.statusLine)")
                if !allowed { #expect(byDigest.text.contains("\"MANIFEST_UNKNOWN\"")) }
                let byTag = try await get("/v2/\(image.repository)/manifests/\(image.tag)?ns=\(host)")
                #expect(byTag.status == (allowed ? 200 : 404), "\(reference) tag: \(byTag.statusLine)")
                // Tag lists are never a node's business.
                let tags = try await get("/v2/\(image.repository)/tags/list?ns=\(host)")
                #expect(tags.status == 404 && tags.text.contains("\"NAME_UNKNOWN\""), "\(tags.statusLine)")
            }

            try await expectReads(mine, allowed: false)
            try await expectReads(other, allowed: false)
            // Installing `mine` on n1 and on mallory: mallory may read it now, still not the other.
            let install = try await cluster.admin.install(InstallRequest(images: [mine], nodes: ["n1", "mallory"]))
            try await expectReads(mine, allowed: true)
            try await expectReads(other, allowed: false)
            // A real follower installs through the same checks.
            _ = try await cluster.install(install.id, until: "n1 installed it") { $0.targets.first { $0.node == "n1" }?.state == .done }
            #expect(try await cluster.engine("n1").imageID(mine) != nil)
            // The admin token keeps full access.
            let otherContent = try await content(other)
            let admin = try await get("/v2/\(otherContent.repository)/blobs/\(otherContent.blobs[0].digest)", token: cluster.leader.token)
            #expect(admin.status == 200)
        }
    }
}
