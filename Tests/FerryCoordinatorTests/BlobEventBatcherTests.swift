import FerryCore
import FerryMesh
import FerryTestSupport
import Synchronization
import Testing

@testable import FerryCoordinator

@Suite("Blob event batching")
struct BlobEventBatcherTests {
    /// What the fake leader received: one entry per request. The first request is held until released.
    final class Leader: Sendable {
        let requests = Mutex<[[BlobEvent]]>([])
        let gate = Mutex<CheckedContinuation<Void, Never>?>(nil)
        let held = Mutex(true)
    }

    static func event(_ index: Int) -> BlobEvent {
        BlobEvent(digest: Digest.sha256(of: Array("b\(index)".utf8)), kind: .present, size: Int64(index))
    }

    @Test("events posted while a request is in flight go in one next request, in order, and each post returns once sent")
    func coalesces() async throws {
        let leader = Leader()
        let batcher = BlobEventBatcher { events in
            leader.requests.withLock { $0.append(events) }
            if leader.held.withLock({ $0 }) {
                await withCheckedContinuation { continuation in leader.gate.withLock { $0 = continuation } }
            }
        }
        let first = Task { await batcher.post([Self.event(0)]) }
        try await waitFor { leader.gate.withLock { $0 != nil } }
        // 40 more while the first request is in flight.
        let rest = Task {
            await withTaskGroup(of: Void.self) { group in
                for index in 1...40 { group.addTask { await batcher.post([Self.event(index)]) } }
            }
        }
        try await waitUntil("40 events wait for the request in flight") { await batcher.pendingCount == 40 }
        leader.held.withLock { $0 = false }
        leader.gate.withLock { $0?.resume(); $0 = nil }
        await first.value
        await rest.value
        let requests = leader.requests.withLock { $0 }
        #expect(requests.count == 2, "one request for the first event, one for the 40 posted meanwhile")
        #expect(requests.flatMap { $0 }.count == 41)
        #expect(Set(requests.flatMap { $0 }.map(\.size)) == Set((0...40).map(Int64.init)))
    }

    @Test("a failed send is not retried and does not hold up later events")
    func failureIsAdvisory() async throws {
        let calls = Mutex(0)
        let batcher = BlobEventBatcher { _ in
            let call = calls.withLock { $0 += 1; return $0 }
            if call == 1 { throw FerryError(.upstreamUnreachable, "leader away") }
        }
        await batcher.post([Self.event(1)])
        await batcher.post([Self.event(2)])
        #expect(calls.withLock { $0 } == 2)
    }
}
