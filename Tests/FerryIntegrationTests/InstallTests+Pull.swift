import FerryCore
import FerryTestSupport
import Foundation
import Testing

extension InstallTests {
    @Test("With --handoff pull the engine pulls from the follower's loopback registry: the image lands under its name with its ID, no loopback name left")
    func pullHandoff() async throws {
        try await TestCluster.with("pullho", nodes: ["n1"]) { cluster in
            await cluster.killFollower("n1")
            try await cluster.startFollower("n1", extraArguments: ["--handoff", "pull"])
            let reference = try await cluster.push("demo/pulled:1", layers: [.init("ph-a", "2M"), .init("ph-b", "1M")])
            let result = try await cluster.ferry(["install", reference])
            #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
            let engine = cluster.engine("n1")
            let config = try await runChecked(
                "/bin/sh", ["-c", "curl -fsS -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \(cluster.registry.url)/v2/demo/pulled/manifests/1 | jq -r .config.digest"])
            #expect(try await engine.imageID(reference) == config.trimmingWhitespace())
            let names = try await engine.docker(["image", "inspect", "--format", "{{json .RepoTags}} {{json .RepoDigests}}", reference])
            #expect(names.stdout.trimmingWhitespace() == "[\"\(reference)\"] []", "\(names.stdout)")
            #expect(try await engine.run(reference).stdout.contains("ferry-image demo/pulled:1 ok"))
        }
    }
}
