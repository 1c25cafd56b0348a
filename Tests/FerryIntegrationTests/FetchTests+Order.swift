import FerryCoordinator
import FerryCore
import FerryMesh
import FerryRegistry
import FerryTestSupport
import Foundation
import Testing

extension FetchTests {
    /// With `serialDownloadSize`, the leader's large blobs arrive one after the other in layer
    /// order (an engine can unpack the first while the next arrives); without it they all
    /// download at once. The leader's own API is sampled while the fetch runs.
    @Test("Large blobs are downloaded one at a time in layer order; with the setting off, at once", arguments: [true, false])
    func largeBlobsInLayerOrder(serial: Bool) async throws {
        try await withTemporaryDirectory("fetch-order") { dir in
            try await TestRegistry.with(in: dir.sub("registry")) { registry in
                let reference = "\(registry.host)/demo/big:1"
                try await TestImages.make(reference, in: dir.path, layers: [.init("a", "2M"), .init("b", "2M"), .init("c", "2M")], busybox: false)
                try await LeaderHarness.with(dataDirectory: dir.sub("leader"), {
                    $0.registry.rateLimit = 4 * 1024 * 1024
                    $0.serialDownloadSize = serial ? 1024 * 1024 : 0
                }) { leader in
                    let accepted = try await leader.client.fetch(FetchRequest(images: [reference]))
                    let id = try #require(accepted.images.first?.id)
                    var mostAtOnce = 0
                    var completed: [String] = []
                    var final: ImageStatus?
                    let deadline = ContinuousClock.now + .seconds(60)
                    while ContinuousClock.now < deadline {
                        let image = try await leader.client.image(id: id)
                        let large = (image.blobs ?? []).filter { $0.size >= 1024 * 1024 }
                        let inFlight = large.filter { $0.state == .fetching && $0.bytesDone > 0 && $0.bytesDone < $0.size }
                        mostAtOnce = max(mostAtOnce, inFlight.count)
                        for blob in large where blob.state == .present && !completed.contains(blob.digest) {
                            completed.append(blob.digest)
                        }
                        if image.isFinished {
                            final = image
                            break
                        }
                        // Sampling the API, not waiting for an event: 20 ms against ~0.5 s per blob.
                        try await Task.sleep(for: .milliseconds(20))
                    }
                    let image = try #require(final, "the fetch did not finish within 60 s")
                    #expect(image.state == .present, "\(image.error?.message ?? "")")
                    let layers = (image.blobs ?? []).filter { $0.size >= 1024 * 1024 }.map(\.digest)
                    #expect(layers.count == 3)
                    if serial {
                        #expect(mostAtOnce == 1, "large blobs downloading at once: \(mostAtOnce)")
                        #expect(completed == layers, "large blobs completed out of layer order")
                    } else {
                        #expect(mostAtOnce >= 2, "with the setting off the large blobs should download at once")
                    }
                }
            }
        }
    }
}
