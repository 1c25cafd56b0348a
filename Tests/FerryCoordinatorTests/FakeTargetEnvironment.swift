import FerryCore
import FerryDocker
import FerryMesh
import Foundation
import Logging
import Synchronization

@testable import FerryCoordinator

/// An in-memory node for ``TargetRunner``: a store, an engine and a leader whose answers the test
/// scripts. Everything it was asked is recorded.
final class FakeTargetEnvironment: TargetEnvironment {
    /// How a fetch of one blob behaves.
    enum FetchBehaviour: Sendable {
        case succeed
        case fail(FerryError)
        /// Fails with the error the first time, then succeeds.
        case failOnce(FerryError)
        /// Never completes until cancelled.
        case hang
        /// Completes once the digest is in `released`.
        case blocked
    }

    struct State {
        var held: [Digest: [UInt8]] = [:]
        var corrupt: Set<Digest> = []
        var behaviours: [Digest: FetchBehaviour] = [:]
        var fetches: [Digest] = []
        var cancelledFetches: [Digest] = []
        var reports: [TargetReport] = []
        var loadAnswers: [Bool] = []
        var loadRequests = 0
        var engineHasImage = false
        var installs = 0
        /// Of `installs`, those through ``load(_:logger:)`` (the docker-archive fallback).
        var archiveLoads = 0
        var heldRecords = 0
        /// Reports in these states are refused with CONFLICT (the leader ended the target).
        var refuse: Set<TargetState> = []
        var refuseLoad = false
        /// The pull handoff overlapping the transfer (``TargetEnvironment/handoffOverlapsTransfer``).
        var overlaps = false
        /// Blobs announced as arriving, by name; names whose announcement ended.
        var arrivals: [String: [Descriptor]] = [:]
        var endedArrivals: [String] = []
        /// At each install: how many of the image's blobs the store held.
        var heldAtInstall: [Int] = []
        /// Installs that fail with DOCKER_LOAD_FAILED before one succeeds.
        var failingInstalls = 0
        /// Blobs whose `.blocked` fetch may complete.
        var released: Set<Digest> = []
    }

    let image: SyntheticImage
    let state = Mutex(State())
    let logger = Logger(label: "test.target", factory: { _ in SwiftLogNoOpLogHandler() })

    init(image: SyntheticImage) {
        self.image = image
    }

    func update(_ change: (inout State) -> Void) { state.withLock { change(&$0) } }
    var snapshot: State { state.withLock { $0 } }

    func lease(_ name: String, adding digests: [Digest]) {}
    func releaseLease(_ name: String) {}

    func manifest(of item: WorkItem) async throws -> [UInt8] { image.manifest }

    func holds(_ blob: Descriptor) -> Bool { state.withLock { $0.held[blob.digest] != nil } }
    func bytesHeld(_ blob: Descriptor) -> Int64 { holds(blob) ? blob.size : 0 }

    func fetch(_ blob: Descriptor, repository: String) async throws {
        let behaviour = state.withLock { state -> FetchBehaviour in
            state.fetches.append(blob.digest)
            let behaviour = state.behaviours[blob.digest] ?? .succeed
            if case .failOnce = behaviour { state.behaviours[blob.digest] = .succeed }
            return behaviour
        }
        switch behaviour {
        case .succeed:
            state.withLock { $0.held[blob.digest] = image.blobs[blob.digest] }
        case .fail(let error), .failOnce(let error):
            throw error
        case .blocked:
            while !state.withLock({ $0.released.contains(blob.digest) }) {
                try await Task.sleep(for: .milliseconds(1))
            }
            state.withLock { $0.held[blob.digest] = image.blobs[blob.digest] }
        case .hang:
            do {
                try await Task.sleep(for: .seconds(3600))
            } catch {
                state.withLock { $0.cancelledFetches.append(blob.digest) }
                throw error
            }
        }
    }

    func reverify(_ blob: Descriptor) async throws -> Bool {
        state.withLock { state in
            guard state.corrupt.remove(blob.digest) != nil else { return true }
            state.held[blob.digest] = nil
            return false
        }
    }

    func bytes(of digest: Digest) async throws -> [UInt8] {
        guard let bytes = state.withLock({ $0.held[digest] }) else { throw FerryError(.blobUnknown, "not held: \(digest)") }
        return bytes
    }

    var handoffOverlapsTransfer: Bool { state.withLock { $0.overlaps } }
    func expectArrivals(_ name: String, of blobs: [Descriptor]) { state.withLock { $0.arrivals[name] = blobs } }
    func endArrivals(_ name: String) { state.withLock { $0.endedArrivals.append(name) } }

    func engineHas(_ image: LoadableImage) async throws -> Bool { state.withLock { $0.engineHasImage } }

    func install(_ image: LoadableImage, logger: Logger) async throws -> LoadOutcome {
        let all = Set(self.image.blobs.keys)
        return try state.withLock { state -> LoadOutcome in
            state.installs += 1
            state.heldAtInstall.append(all.filter { state.held[$0] != nil }.count)
            if state.failingInstalls > 0 {
                state.failingInstalls -= 1
                throw FerryError(.dockerLoadFailed, "docker pull failed: filesystem layer verification failed")
            }
            if state.engineHasImage { return .alreadyPresent }
            state.engineHasImage = true
            return .loaded(omittedLayers: 0, fallback: false)
        }
    }

    func load(_ image: LoadableImage, logger: Logger) async throws -> LoadOutcome {
        state.withLock { $0.archiveLoads += 1 }
        return try await install(image, logger: logger)
    }

    func recordHeld(_ item: WorkItem, manifest: ImageManifest, bytes: [UInt8], mediaType: String) async {
        state.withLock { $0.heldRecords += 1 }
    }

    func report(target: Int64, _ report: TargetReport) async throws {
        try state.withLock { state in
            if state.refuse.contains(report.state) { throw FerryError(.conflict, "target \(target) is over") }
            state.reports.append(report)
        }
    }

    /// Answers from `loadAnswers` (granted once they run out); a refusal waits `wait`, as the leader does.
    func requestLoad(target: Int64, wait: Duration) async throws -> Bool {
        let granted = try state.withLock { state in
            state.loadRequests += 1
            if state.refuseLoad { throw FerryError(.conflict, "target \(target) is over") }
            return state.loadAnswers.isEmpty ? true : state.loadAnswers.removeFirst()
        }
        if !granted { try await Task.sleep(for: wait) }
        return granted
    }
}

/// A Docker schema 2 image of generated blobs: a config and `layers` layers.
struct SyntheticImage: Sendable {
    let config: Descriptor
    let layers: [Descriptor]
    let blobs: [Digest: [UInt8]]
    let manifest: [UInt8]
    let manifestDigest: Digest

    init(layers count: Int) {
        var blobs: [Digest: [UInt8]] = [:]
        func blob(_ text: String, _ mediaType: String) -> Descriptor {
            let bytes = Array(text.utf8)
            let digest = Digest.sha256(of: bytes)
            blobs[digest] = bytes
            return Descriptor(mediaType: mediaType, digest: digest, size: Int64(bytes.count))
        }
        config = blob(#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#, MediaType.dockerConfig)
        layers = (0..<count).map { blob("layer \($0) " + String(repeating: "x", count: 100 * ($0 + 1)), MediaType.dockerLayerGzip) }
        self.blobs = blobs
        func json(_ descriptor: Descriptor) -> String {
            #"{"mediaType":"\#(descriptor.mediaType)","size":\#(descriptor.size),"digest":"\#(descriptor.digest)"}"#
        }
        let text = #"{"schemaVersion":2,"mediaType":"\#(MediaType.dockerManifest)","config":\#(json(config)),"layers":[\#(layers.map(json).joined(separator: ","))]}"#
        manifest = Array(text.utf8)
        manifestDigest = Digest.sha256(of: manifest)
    }

    var item: WorkItem {
        WorkItem(
            targetID: 7, installID: 1, reference: "registry.test/demo/app:1", registry: "registry.test", repository: "demo/app",
            manifestDigest: manifestDigest, size: layers.reduce(config.size) { $0 + $1.size }, state: .waiting)
    }
}
