import FerryCore
import FerryMesh
import FerryTestSupport
import Synchronization
import Testing

@testable import FerryCoordinator

@Suite("Sources batching")
struct SourceBatcherTests {
    /// A fake leader: records each batch, answers from `answer`, and holds the first batch until released.
    final class Leader: Sendable {
        let batches = Mutex<[[SourceRequest]]>([])
        let alone = Mutex<[SourceRequest]>([])
        let gate = Mutex<CheckedContinuation<Void, Never>?>(nil)
        let held = Mutex(false)
        let answer: @Sendable (SourceRequest) -> SourceAnswer

        init(held: Bool = false, answer: @escaping @Sendable (SourceRequest) -> SourceAnswer = { .sources(Leader.list(for: $0)) }) {
            self.held.withLock { $0 = held }
            self.answer = answer
        }

        static func list(for request: SourceRequest) -> SourceList {
            SourceList(sources: [BlobSource(node: "leader", kind: .leader, url: "/v2/\(request.repository)/blobs/\(request.digest)", token: nil)])
        }

        func release() {
            held.withLock { $0 = false }
            gate.withLock { $0?.resume(); $0 = nil }
        }

        func batcher() -> SourceBatcher {
            SourceBatcher(
                batch: { [self] batch in
                    batches.withLock { $0.append(batch.requests) }
                    if held.withLock({ $0 }) {
                        await withCheckedContinuation { continuation in gate.withLock { $0 = continuation } }
                    }
                    return batch.requests.map(answer)
                },
                alone: { [self] request in
                    alone.withLock { $0.append(request) }
                    return SourceList(sources: [])
                })
        }
    }

    /// Which callers have returned.
    final class Returned: Sendable {
        let indices = Mutex<Set<Int>>([])
    }

    /// A batcher of `leader` whose first request (`request(0)`) is in flight, held by the leader.
    static func firstInFlight(_ leader: Leader) async throws -> (SourceBatcher, Task<SourceList, any Error>) {
        let batcher = leader.batcher()
        let first = Task { try await batcher.sources(Self.request(0)) }
        try await waitFor { leader.gate.withLock { $0 != nil } }
        return (batcher, first)
    }

    static func request(_ index: Int) -> SourceRequest {
        SourceRequest(digest: Digest.sha256(of: Array("blob \(index)".utf8)), size: Int64(index + 1), have: 0, repository: "lib/app\(index)")
    }

    @Test("the first request goes out at once; those made while it is in flight go in one next batch, each answered its own")
    func coalesces() async throws {
        let leader = Leader(held: true)
        let (batcher, first) = try await Self.firstInFlight(leader)
        #expect(leader.batches.withLock { $0.map(\.count) } == [1], "not held back to be batched")
        let rest = Task {
            try await withThrowingTaskGroup(of: (Int, SourceList).self) { group in
                for index in 1...40 { group.addTask { (index, try await batcher.sources(Self.request(index))) } }
                return try await group.reduce(into: [Int: SourceList]()) { $0[$1.0] = $1.1 }
            }
        }
        try await waitUntil("40 requests wait for the batch in flight") { await batcher.pendingCount == 40 }
        leader.release()
        #expect(try await first.value == Leader.list(for: Self.request(0)))
        let answers = try await rest.value
        for index in 1...40 {
            #expect(answers[index] == Leader.list(for: Self.request(index)), "request \(index) got its own answer")
        }
        let batches = leader.batches.withLock { $0 }
        #expect(batches.map(\.count) == [1, 40])
        #expect(await batcher.batchesSent == 2)
    }

    @Test("more pending requests than one batch takes go in several, none over the limit")
    func splitsAtTheLimit() async throws {
        let leader = Leader(held: true)
        let (batcher, first) = try await Self.firstInFlight(leader)
        let count = MeshAPI.maxSourceBatch + 10
        let rest = Task {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for index in 1...count { group.addTask { _ = try await batcher.sources(Self.request(index)) } }
                try await group.waitForAll()
            }
        }
        try await waitUntil("the requests wait") { await batcher.pendingCount == count }
        leader.release()
        _ = try await first.value
        try await rest.value
        #expect(leader.batches.withLock { $0.map(\.count) } == [1, MeshAPI.maxSourceBatch, 10])
    }

    @Test("a refused request throws its own error; a later one asks alone; the others are answered")
    func perRequestOutcomes() async throws {
        let refused = Self.request(1).digest
        let later = Self.request(2).digest
        let leader = Leader(held: true) { request in
            switch request.digest {
            case refused: .refused(FerryError(.blobUnknown, "blob unknown: not in an image this node installs"))
            case later: .later
            default: .sources(Leader.list(for: request))
            }
        }
        let (batcher, first) = try await Self.firstInFlight(leader)
        let one = Task { try await batcher.sources(Self.request(1)) }
        let two = Task { try await batcher.sources(Self.request(2)) }
        let three = Task { try await batcher.sources(Self.request(3)) }
        try await waitUntil("three requests wait") { await batcher.pendingCount == 3 }
        leader.release()
        _ = try await first.value
        let error = await #expect(throws: FerryError.self) { try await one.value }
        #expect(error?.code == .blobUnknown)
        #expect(try await two.value == SourceList(sources: []))
        #expect(leader.alone.withLock { $0 } == [Self.request(2)], "only the later one asked alone")
        #expect(try await three.value == Leader.list(for: Self.request(3)))
    }

    @Test("a cancelled caller stops waiting at once, its question sent or still pending; the others are answered")
    func cancellation() async throws {
        let leader = Leader(held: true)
        defer { leader.release() }
        let batcher = leader.batcher()
        // Each caller notes when it returned: waited for with a deadline, so that a caller that
        // does not return fails the test instead of hanging it. "At once" is shown by the leader
        // holding every answer until the end, not by a short deadline (a loaded CI machine
        // starved this test's tasks for over 5 s).
        let returned = Returned()
        let ask = { @Sendable (index: Int) -> Task<SourceList, any Error> in
            Task {
                defer { _ = returned.indices.withLock { $0.insert(index) } }
                return try await batcher.sources(Self.request(index))
            }
        }
        let inFlight = ask(0)
        try await waitFor { leader.gate.withLock { $0 != nil } }
        let waiting = ask(1)
        let kept = ask(2)
        try await waitUntil("two requests wait") { await batcher.pendingCount == 2 }
        // In the batch in flight (held by the leader): the caller returns without its answer.
        inFlight.cancel()
        try await waitUntil("the cancelled caller in flight returns") { returned.indices.withLock { $0.contains(0) } }
        await #expect(throws: CancellationError.self) { try await inFlight.value }
        // Pending: it returns, and its question leaves the next batch.
        waiting.cancel()
        try await waitUntil("the cancelled pending caller returns") { returned.indices.withLock { $0.contains(1) } }
        await #expect(throws: CancellationError.self) { try await waiting.value }
        #expect(await batcher.pendingCount == 1)
        leader.release()
        #expect(try await kept.value == Leader.list(for: Self.request(2)))
        #expect(leader.batches.withLock { $0 } == [[Self.request(0)], [Self.request(2)]])
    }

    @Test("a failed batch fails each of its requests, and the next request is sent anew")
    func failedBatch() async throws {
        let calls = Mutex(0)
        let batcher = SourceBatcher(
            batch: { batch in
                let call = calls.withLock { $0 += 1; return $0 }
                if call == 1 { throw FerryError(.upstreamUnreachable, "leader away") }
                return batch.requests.map { .sources(Leader.list(for: $0)) }
            },
            alone: { _ in Issue.record("not asked alone"); return SourceList(sources: []) })
        let error = await #expect(throws: FerryError.self) { try await batcher.sources(Self.request(0)) }
        #expect(error?.code == .upstreamUnreachable)
        #expect(try await batcher.sources(Self.request(1)) == Leader.list(for: Self.request(1)))
    }

    @Test("an answer with no outcome or two, or too few answers, is an error for that request only")
    func unreadableAnswers() async throws {
        let batcher = SourceBatcher(
            batch: { batch in
                batch.requests.map { request in
                    switch request.size {
                    case 1: SourceAnswer()
                    case 2: SourceAnswer(list: Leader.list(for: request), askAlone: true)
                    default: .sources(Leader.list(for: request))
                    }
                }.dropLast(batch.requests.count == 1 && batch.requests[0].size == 4 ? 1 : 0)
            },
            alone: { _ in Issue.record("not asked alone"); return SourceList(sources: []) })
        for index in 0...1 {
            let error = await #expect(throws: FerryError.self) { try await batcher.sources(Self.request(index)) }
            #expect(error?.message.contains("cannot read") == true)
        }
        let short = await #expect(throws: FerryError.self) { try await batcher.sources(Self.request(3)) }
        #expect(short?.message.contains("no answer") == true)
        #expect(try await batcher.sources(Self.request(2)) == Leader.list(for: Self.request(2)))
    }
}
