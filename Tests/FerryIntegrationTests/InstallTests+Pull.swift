import FerryCore
import FerryMesh
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

    @Test("With --handoff pull the engine pulls while the blobs arrive: it reads layer bytes from the loopback registry before the follower holds every blob")
    func pullOverlapsTransfer() async throws {
        try await TestCluster.with("pullov", nodes: ["n1"]) { cluster in
            await cluster.killFollower("n1")
            // A transfer slow enough to watch (about 6 s): the engine's reads are sampled meanwhile.
            // (At 4 MiB/s, 3 s, a full parallel `make test` once saw the engine start reading only
            // after the transfer: its pull and the scrapes were that slow on 2 loaded cores.)
            try await cluster.startFollower("n1", extraArguments: ["--handoff", "pull", "--max-download-rate", "2MiB/s"])
            let reference = try await cluster.push("demo/overlap:1", layers: [.init("ov-a", "6M"), .init("ov-b", "6M")])
            let total = try await runChecked(
                "/bin/sh", ["-c", "curl -fsS -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \(cluster.registry.url)/v2/demo/overlap/manifests/1 | jq '[.config.size] + [.layers[].size] | add'"])
            let image = try #require(Double(total.trimmingWhitespace()))
            let accepted = try await cluster.admin.install(InstallRequest(images: [reference]))
            // One scrape gives both counters: what the engine read from the loopback registry
            // (served) and what the node had received from the mesh at that moment.
            var overlap: (served: Double, received: Double)?
            var status = try await cluster.admin.install(id: accepted.id)
            try await waitUntil("the install ends", timeout: .seconds(120), every: .milliseconds(100)) {
                let metrics = try await cluster.metrics(of: "n1")
                let served = metrics["ferry_served_bytes_total"] ?? 0
                let received = metrics["ferry_received_bytes_total{source=\"leader\"}"] ?? 0
                if overlap == nil, served >= 1024 * 1024, received + 1024 * 1024 < image { overlap = (served, received) }
                status = try await cluster.admin.install(id: accepted.id)
                return status.finishedAt != nil
            }
            #expect(status.state == .done, "\(status)")
            let seen = try #require(overlap, "the engine read no layer bytes before the node held the whole image (\(Int(image)) bytes)")
            #expect(seen.served >= 1024 * 1024 && seen.received + 1024 * 1024 < image)
            let engine = cluster.engine("n1")
            let names = try await engine.docker(["image", "inspect", "--format", "{{json .RepoTags}} {{json .RepoDigests}}", reference])
            #expect(names.stdout.trimmingWhitespace() == "[\"\(reference)\"] []", "\(names.stdout)")
            #expect(try await engine.run(reference).stdout.contains("ferry-image demo/overlap:1 ok"))
        }
    }

    @Test("With --handoff pull a layer arriving corrupt (from a peer) while the engine pulls it never completes in the engine: the pull is retried from the verified store and the image lands, no loopback name left")
    func pullWithCorruptPeer() async throws {
        try await TestCluster.with("pullbad", nodes: ["a", "b"]) { cluster in
            // a's copy of the big layer damaged behind its back: it still believes it holds it.
            let reference = try await cluster.pushInstalledAndDamaged("demo/badpeer:1", layer: "pbp", size: "8M", on: "a")
            await cluster.killFollower("b")
            // Slow enough that the engine is reading the corrupt copy when it fails verification.
            try await cluster.startFollower("b", join: false, extraArguments: ["--handoff", "pull", "--max-download-rate", "4MiB/s"])
            let installed = try await cluster.ferry(["install", reference, "--nodes", "b"])
            #expect(installed.status == 0, "\(installed.stdout)\n\(installed.stderr)")
            let metrics = try await cluster.metrics(of: "b")
            #expect(metrics["ferry_verification_failures_total"] ?? 0 >= 1, "b received a's corrupt bytes")
            let engine = cluster.engine("b")
            let config = try await runChecked(
                "/bin/sh", ["-c", "curl -fsS -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \(cluster.registry.url)/v2/demo/badpeer/manifests/1 | jq -r .config.digest"])
            #expect(try await engine.imageID(reference) == config.trimmingWhitespace())
            // The only image, under its own name only (the test registry is on 127.0.0.1 too).
            let images = try await engine.docker(["image", "ls", "--all", "--format", "{{.Repository}}:{{.Tag}}"])
            #expect(images.stdout.trimmingWhitespace() == reference, "no loopback name, no partial image left: \(images.stdout)")
            let names = try await engine.docker(["image", "inspect", "--format", "{{json .RepoTags}} {{json .RepoDigests}}", reference])
            #expect(names.stdout.trimmingWhitespace() == "[\"\(reference)\"] []", "\(names.stdout)")
            #expect(try await engine.run(reference).stdout.contains("ferry-image demo/badpeer:1 ok"))
        }
    }
}
