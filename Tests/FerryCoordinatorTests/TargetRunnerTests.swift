import FerryCore
import FerryMesh
import Testing

@testable import FerryCoordinator

/// TargetRunner driven in process against an in-memory node: no store, engine or leader.
@Suite("TargetRunner", .timeLimit(.minutes(5)))
struct TargetRunnerTests {
    static func runner(_ environment: FakeTargetEnvironment) -> TargetRunner<FakeTargetEnvironment> {
        var runner = TargetRunner(environment: environment, item: environment.image.item)
        runner.progressInterval = .milliseconds(10)
        runner.loadSlotWait = .milliseconds(10)
        return runner
    }

    @Test("an engine that holds the image: done with 'already in the engine', no layer fetched")
    func alreadyInstalled() async {
        let node = FakeTargetEnvironment(image: SyntheticImage(layers: 2))
        node.update { $0.engineHasImage = true }
        await Self.runner(node).run()
        let state = node.snapshot
        #expect(state.reports.map(\.state) == [.done])
        #expect(state.reports.last?.note == "already in the engine")
        #expect(state.fetches == [node.image.config.digest], "only the config, to know the image ID")
        #expect(state.heldRecords == 1)
    }

    @Test("an image installed by digest: the note says it is untagged in the engine and gives the image ID to run it by")
    func installedByDigest() async {
        let node = FakeTargetEnvironment(image: SyntheticImage(layers: 1))
        node.update { $0.engineHasImage = true }
        var item = node.image.item
        item.reference = "registry.test/demo/app@\(item.manifestDigest)"
        var runner = TargetRunner(environment: node, item: item)
        runner.progressInterval = .milliseconds(10)
        await runner.run()
        let note = node.snapshot.reports.last?.note ?? ""
        #expect(note.hasPrefix("already in the engine; installed by digest, so untagged"), "\(note)")
        #expect(note.contains(String(node.image.config.digest.encoded.prefix(12))))
        #expect(TargetRunner<FakeTargetEnvironment>.noted("loaded", untagged: false, image: node.image.config.digest) == "loaded")
    }

    @Test("the whole way: transferring, ready, a load slot after two refusals, loaded, done; each blob fetched once")
    func wholeWay() async {
        let node = FakeTargetEnvironment(image: SyntheticImage(layers: 3))
        node.update { $0.loadAnswers = [false, false, true] }
        await Self.runner(node).run()
        let state = node.snapshot
        let states = state.reports.map(\.state).filter { $0 != .transferring || $0 == state.reports.first?.state }
        #expect(state.reports.first?.state == .transferring && state.reports.first?.starting == true)
        #expect(states.suffix(2) == [.ready, .done])
        #expect(state.reports.last?.note == "loaded")
        #expect(state.loadRequests == 3)
        #expect(state.installs == 1)
        #expect(Set(state.fetches) == Set(node.image.blobs.keys) && state.fetches.count == node.image.blobs.count)
    }

    @Test("a blob that fails for good fails the target at once with its reason; the other downloads stop waiting")
    func permanentFailure() async {
        let image = SyntheticImage(layers: 2)
        let node = FakeTargetEnvironment(image: image)
        node.update {
            $0.behaviours[image.layers[0].digest] = .fail(FerryError(.blobUnknown, "blob gone from the leader"))
            $0.behaviours[image.layers[1].digest] = .hang
        }
        await Self.runner(node).run()
        let state = node.snapshot
        #expect(state.reports.last?.state == .failed)
        #expect(state.reports.last?.error?.code == "BLOB_UNKNOWN")
        #expect(state.cancelledFetches == [image.layers[1].digest])
        #expect(state.installs == 0)
    }

    @Test("a transient failure is retried, and the image lands")
    func transientFailure() async {
        let image = SyntheticImage(layers: 1)
        let node = FakeTargetEnvironment(image: image)
        node.update { $0.behaviours[image.layers[0].digest] = .failOnce(FerryError(.upstreamUnreachable, "the leader went away")) }
        await Self.runner(node).run()
        let state = node.snapshot
        #expect(state.reports.last?.state == .done)
        #expect(!state.reports.contains { $0.state == .failed })
        #expect(state.fetches.filter { $0 == image.layers[0].digest }.count == 2)
    }

    @Test("the leader ends the target mid-transfer: the runner stops at once, downloads stop waiting, nothing reported failed")
    func supersededDuringTransfer() async {
        let image = SyntheticImage(layers: 2)
        let node = FakeTargetEnvironment(image: image)
        node.update { $0.behaviours[image.layers[1].digest] = .hang }
        let run = Task { await Self.runner(node).run() }
        try? await waitFor { node.snapshot.fetches.contains(image.layers[1].digest) }
        // From now on the leader refuses progress: the target was failed by its deadline.
        node.update { $0.refuse = [.transferring, .ready, .done, .failed] }
        await run.value
        let state = node.snapshot
        #expect(state.cancelledFetches == [image.layers[1].digest])
        #expect(!state.reports.contains { $0.state == .failed })
        #expect(state.installs == 0)
    }

    @Test("the leader ends the target while it waits for a load slot: the runner stops")
    func supersededWaitingForSlot() async {
        let node = FakeTargetEnvironment(image: SyntheticImage(layers: 1))
        node.update {
            $0.loadAnswers = Array(repeating: false, count: 1000)
        }
        let run = Task { await Self.runner(node).run() }
        try? await waitFor { node.snapshot.loadRequests >= 2 }
        node.update { $0.refuseLoad = true }
        await run.value
        let state = node.snapshot
        #expect(state.installs == 0)
        #expect(!state.reports.contains { $0.state == .failed || $0.state == .done })
    }

    @Test("a held blob corrupt on disk is fetched again before the load, never loaded as it was")
    func corruptHeldBlob() async {
        let image = SyntheticImage(layers: 2)
        let node = FakeTargetEnvironment(image: image)
        node.update { state in
            for (digest, bytes) in image.blobs { state.held[digest] = bytes }
            state.corrupt = [image.layers[1].digest]
        }
        await Self.runner(node).run()
        let state = node.snapshot
        #expect(state.fetches == [image.layers[1].digest])
        #expect(state.reports.last?.state == .done)
    }

    @Test("cancellation (a shutdown) ends the runner while a download hangs, without reporting a failure")
    func cancelled() async {
        let image = SyntheticImage(layers: 1)
        let node = FakeTargetEnvironment(image: image)
        node.update { $0.behaviours[image.layers[0].digest] = .hang }
        let run = Task { await Self.runner(node).run() }
        try? await waitFor { node.snapshot.fetches.contains(image.layers[0].digest) }
        run.cancel()
        await run.value
        let state = node.snapshot
        #expect(state.cancelledFetches == [image.layers[0].digest])
        #expect(!state.reports.contains { $0.state == .failed })
    }
}

/// Polls `condition` every millisecond, for at most 60 s (a generous bound: when every unit suite
/// runs together, the simulator's synchronous tests can hold the cooperative threads for a while).
func waitFor(_ condition: () -> Bool) async throws {
    let deadline = ContinuousClock.now + .seconds(60)
    while !condition() {
        guard ContinuousClock.now < deadline else { throw CancellationError() }
        try await Task.sleep(for: .milliseconds(1))
    }
}
