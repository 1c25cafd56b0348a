import FerryCore
import FerryMesh
import Testing

@testable import FerryCoordinator

/// The pull handoff overlapping the transfer (docs/docker-handoff.md).
extension TargetRunnerTests {
    @Test("the pull handoff starts while a blob still arrives, after asking for the slot while transferring; done once both end")
    func pullOverlapsTransfer() async throws {
        let image = SyntheticImage(layers: 2)
        let node = FakeTargetEnvironment(image: image)
        node.update {
            $0.overlaps = true
            $0.behaviours[image.layers[1].digest] = .blocked
        }
        let runner = Self.runner(node)
        let run = Task { await runner.run() }
        try await waitFor { node.snapshot.installs == 1 }
        var state = node.snapshot
        #expect(state.heldAtInstall.count == 1 && state.heldAtInstall[0] < image.blobs.count, "the engine pulled while a layer was still arriving")
        #expect(!state.reports.contains { $0.state == .ready }, "the slot was asked for and granted while transferring")
        #expect(Set(state.arrivals[runner.leaseName]?.map(\.digest) ?? []) == Set(image.blobs.keys), "every blob announced")
        #expect(!state.reports.contains { $0.state == .done }, "not done before the transfer ends")
        node.update { $0.released.insert(image.layers[1].digest) }
        await run.value
        state = node.snapshot
        #expect(state.reports.suffix(2).map(\.state) == [.ready, .done], "the transfer's end reported, then done")
        #expect(state.installs == 1)
        #expect(state.endedArrivals == [runner.leaseName])
        #expect(state.heldRecords == 1)
    }

    @Test("a pull that fails while the blobs arrive is followed by the archive load once every blob is held and verified")
    func failedOverlappedPullIsRetriedAfterTransfer() async throws {
        let image = SyntheticImage(layers: 2)
        let node = FakeTargetEnvironment(image: image)
        node.update {
            $0.overlaps = true
            $0.failingInstalls = 1
            $0.behaviours[image.layers[0].digest] = .blocked
        }
        let run = Task { await Self.runner(node).run() }
        try await waitFor { node.snapshot.installs == 1 }
        node.update { $0.released.insert(image.layers[0].digest) }
        await run.value
        let state = node.snapshot
        #expect(state.installs == 2)
        #expect(state.heldAtInstall.count == 2 && state.heldAtInstall[0] < image.blobs.count, "the first pull while a layer arrived")
        #expect(state.heldAtInstall.last == image.blobs.count, "the load from the whole, verified store")
        #expect(state.archiveLoads == 1, "the second handoff is the archive load")
        #expect(state.reports.last?.state == .done)
        #expect(!state.reports.contains { $0.state == .failed })
    }

    @Test("without the overlap the handoff waits for every blob, as before")
    func loadWaitsForTransfer() async throws {
        let image = SyntheticImage(layers: 3)
        let node = FakeTargetEnvironment(image: image)
        await Self.runner(node).run()
        let state = node.snapshot
        #expect(state.heldAtInstall == [image.blobs.count])
        #expect(state.arrivals.isEmpty)
    }

    @Test("while the engine pulls, the blobs are pulled in the manifest's order, a few at a time")
    func overlappedTransferIsOrdered() async throws {
        let image = SyntheticImage(layers: 6)
        let node = FakeTargetEnvironment(image: image)
        node.update {
            $0.overlaps = true
            for layer in image.layers { $0.behaviours[layer.digest] = .blocked }
        }
        let run = Task { await Self.runner(node).run() }
        let limit = TargetRunner<FakeTargetEnvironment>.overlappedTransfers
        try await waitFor { node.snapshot.fetches.contains(image.layers[limit - 1].digest) }
        try await Task.sleep(for: .milliseconds(50))
        let layerFetches = node.snapshot.fetches.filter { $0 != image.config.digest }
        // Started together, so recorded in any order: the first `limit` layers, and no more.
        #expect(layerFetches.count == limit && Set(layerFetches) == Set(image.layers.prefix(limit).map(\.digest)), "the first \(limit) layers, and no more")
        node.update { $0.released.insert(image.layers[0].digest) }
        try await waitFor { node.snapshot.fetches.contains(image.layers[limit].digest) }
        node.update { $0.released.formUnion(image.layers.map(\.digest)) }
        await run.value
        #expect(node.snapshot.reports.last?.state == .done)
    }
}
