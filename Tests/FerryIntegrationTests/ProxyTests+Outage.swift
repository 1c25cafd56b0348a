import FerryCore
import FerryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension ProxyTests {
    /// docs/proxy.md, *Upstream outages*: what the cache holds for a repository stays
    /// pullable while its registry is down, by tag and by digest, a proxy restart in between
    /// included, as the CNCF registry's pull-through cache serves its local copy; what it does
    /// not hold fails as before.
    @Test("With the upstream down the cache still serves what it holds, by tag, after a restart too; what it does not hold fails")
    func upstreamDownServesTheCache() async throws {
        try await ProxyFixture.with("proxy-stale", arguments: ["--tag-ttl", "1"]) { proxy in
            let licence = try await proxy.createLicence()
            let app = "docker://\(proxy.host)/proxy/shop/vendor/\(ProxyFixture.app)"
            let warm = proxy.dir.sub("warm")
            try await Self.skopeo(["--src-creds", "x:\(licence.id)", app, "dir:\(warm)"])
            let files = try FileManager.default.contentsOfDirectory(atPath: warm).sorted()
            func same(_ copy: String) throws -> Bool {
                try FileManager.default.contentsOfDirectory(atPath: copy).sorted() == files
                    && files.allSatisfy { FileManager.default.contents(atPath: "\(copy)/\($0)") == FileManager.default.contents(atPath: "\(warm)/\($0)") }
            }

            await proxy.registry.stop()
            try await Task.sleep(for: .milliseconds(1500))  // past the tag TTL: the tag is asked upstream again
            let down = proxy.dir.sub("down")
            try await Self.skopeo(["--src-creds", "x:\(licence.id)", app, "dir:\(down)"])
            #expect(try same(down))
            // The tag list too: the tags whose manifests the cache holds (skopeo inspect lists
            // them; an audit's failed with 502 in an outage).
            let tags = try await proxy.request("GET", "/v2/proxy/shop/vendor/team/app/tags/list", licence: licence.id)
            #expect(tags.status == 200 && tags.text.contains(#""tags":["1.4"]"#), "\(tags.statusLine) \(tags.text)")
            let inspected = try await runProcess(
                "/usr/bin/skopeo",
                Self.skopeoGlobal + ["inspect", "--tls-verify=false", "--creds", "x:\(licence.id)", app])
            #expect(inspected.succeeded && inspected.stdout.contains(#""1.4""#), "\(inspected.stderr)")
            // Not in the cache: fails, as before.
            let tool = try await runProcess(
                "/usr/bin/skopeo",
                Self.skopeoGlobal + [
                    "copy", "--src-tls-verify=false", "--src-creds", "x:\(licence.id)", "docker://\(proxy.host)/proxy/shop/vendor/\(ProxyFixture.tool)",
                    "dir:\(proxy.dir.sub("tool"))",
                ])
            #expect(!tool.succeeded)
            // Another repository of the same registry never gets what the cache holds for this one.
            let manifest = try #require(FileManager.default.contents(atPath: "\(warm)/manifest.json"))
            let digest = Digest.sha256(of: [UInt8](manifest))
            let crossed = try await runProcess(
                "/usr/bin/skopeo",
                Self.skopeoGlobal + [
                    "inspect", "--raw", "--tls-verify=false", "--creds", "x:\(licence.id)",
                    "docker://\(proxy.host)/proxy/shop/vendor/\(ProxyFixture.tool.split(separator: ":")[0])@\(digest)",
                ])
            #expect(!crossed.succeeded, "\(crossed.stdout.prefix(200))")

            // A restart forgets what this process confirmed; the database remembers it.
            await proxy.process.stop()
            let restarted = try BackgroundProcess.spawn(
                RepositoryLayout.ferryBinary,
                ["proxy", "serve", "--data-dir", proxy.dataDirectory, "--listen", "127.0.0.1:0", "--upstream-auth", proxy.upstreamAuthFile],
                logPath: proxy.dir.sub("restarted.log"))
            do {
                try await waitUntil("the restarted proxy to listen") {
                    guard kill(restarted.pid, 0) == 0 else { throw FerryError(.internal, "the restarted proxy exited: \(restarted.log.suffix(2000))") }
                    return FileManager.default.fileExists(atPath: proxy.dataDirectory + "/address")
                }
                let url = try String(contentsOfFile: proxy.dataDirectory + "/address", encoding: .utf8).trimmingWhitespace()
                let host = String(url.dropFirst("http://".count))
                let after = proxy.dir.sub("after")
                try await Self.skopeo(["--src-creds", "x:\(licence.id)", "docker://\(host)/proxy/shop/vendor/\(ProxyFixture.app)", "dir:\(after)"])
                #expect(try same(after))
                #expect(restarted.log.contains("the upstream is not answering: serving what the cache holds for it"), "\(restarted.log.suffix(3000))")
            } catch {
                await restarted.stop()
                throw error
            }
            await restarted.stop()
        }
    }
}
