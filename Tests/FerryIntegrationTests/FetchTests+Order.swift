import FerryCoordinator
import FerryCore
import FerryMesh
import FerryRegistry
import FerryTestSupport
import Foundation
import Testing

extension FetchTests {
    /// With `serialDownloadSize`, the leader's large blobs arrive one after the other in layer
    /// order (an engine can unpack the first while the next arrives), the next one's download
    /// set up in the last second of the one before, its body waiting for the last byte before it
    /// (``SerialPermits``: the link does not idle between them); without it they all download at
    /// once. The leader's own API is sampled while the fetch runs.
    @Test("Large blobs arrive one after the other in layer order, the next set up during the tail of the one before; with the setting off, at once", arguments: [true, false])
    func largeBlobsInLayerOrder(serial: Bool) async throws {
        try await withTemporaryDirectory("fetch-order") { dir in
            try await TestRegistry.with(in: dir.sub("registry")) { registry in
                let reference = "\(registry.host)/demo/big:1"
                try await TestImages.make(reference, in: dir.path, layers: [.init("a", "4M"), .init("b", "4M"), .init("c", "4M")], busybox: false)
                try await LeaderHarness.with(dataDirectory: dir.sub("leader"), {
                    $0.registry.rateLimit = 2 * 1024 * 1024
                    $0.serialDownloadSize = serial ? 1024 * 1024 : 0
                }) { leader in
                    let accepted = try await leader.client.fetch(FetchRequest(images: [reference]))
                    let id = try #require(accepted.images.first?.id)
                    // The most large blobs receiving at once, and the samples in which a large
                    // blob was set up (fetching, no byte yet) while one before it was receiving.
                    var mostAtOnce = 0
                    var setUpEarly = 0
                    var completed: [String] = []
                    var final: ImageStatus?
                    let deadline = ContinuousClock.now + .seconds(60)
                    while ContinuousClock.now < deadline {
                        let image = try await leader.client.image(id: id)
                        let large = (image.blobs ?? []).filter { $0.size >= 1024 * 1024 }
                        let inFlight = large.filter { $0.state == .fetching && $0.bytesDone > 0 && $0.bytesDone < $0.size }
                        mostAtOnce = max(mostAtOnce, inFlight.count)
                        // `large` is in layer order.
                        if let receiving = large.firstIndex(where: { inFlight.contains($0) }),
                            large[(receiving + 1)...].contains(where: { $0.state == .fetching && $0.bytesDone == 0 })
                        {
                            setUpEarly += 1
                        }
                        for blob in large where blob.state == .present && !completed.contains(blob.digest) {
                            completed.append(blob.digest)
                        }
                        if image.isFinished {
                            final = image
                            break
                        }
                        // Sampling the API, not waiting for an event: 20 ms against ~2 s per blob.
                        try await Task.sleep(for: .milliseconds(20))
                    }
                    let image = try #require(final, "the fetch did not finish within 60 s")
                    #expect(image.state == .present, "\(image.error?.message ?? "")")
                    let layers = (image.blobs ?? []).filter { $0.size >= 1024 * 1024 }.map(\.digest)
                    #expect(layers.count == 3)
                    if serial {
                        #expect(mostAtOnce == 1, "large blobs receiving at once: \(mostAtOnce)")
                        #expect(setUpEarly > 0, "the next large blob was never set up before the one before it had every byte")
                        #expect(completed == layers, "large blobs completed out of layer order")
                    } else {
                        #expect(mostAtOnce >= 3, "with the setting off the large blobs should download at once")
                    }
                }
            }
        }
    }
}
