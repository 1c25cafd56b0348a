import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import Synchronization
import Testing

@testable import FerryTransfer

/// The resume checks and the bounded body stream shared by upstream and mesh downloads.
@Suite("RangedDownload")
struct RangedDownloadTests {
    final class MemorySink: BlobSink {
        let bytes = Mutex<[UInt8]>([])
        init(_ initial: [UInt8] = []) { bytes.withLock { $0 = initial } }
        func offset() async throws -> Int64 { Int64(bytes.withLock { $0.count }) }
        func write(_ chunk: ByteBuffer) async throws { bytes.withLock { $0 += Array(chunk.readableBytesView) } }
        func reset() async throws { bytes.withLock { $0 = [] } }
    }

    static func headers(_ contentRange: String?) -> HTTPHeaders {
        var headers = HTTPHeaders()
        if let contentRange { headers.add(name: "Content-Range", value: contentRange) }
        return headers
    }

    @Test("a 206 must start at the offset asked for and name the blob's size")
    func partialContent() async throws {
        let sink = MemorySink([1, 2, 3])
        let good = try await RangedDownload.start(status: .partialContent, headers: Self.headers("bytes 3-9/10"), offset: 3, size: 10, sink: sink)
        #expect(good == .success(.atOffset))
        let shifted = try await RangedDownload.start(status: .partialContent, headers: Self.headers("bytes 2-9/10"), offset: 3, size: 10, sink: sink)
        #expect(shifted == .failure(.wrongRange))
        let otherSize = try await RangedDownload.start(status: .partialContent, headers: Self.headers("bytes 3-9/11"), offset: 3, size: 10, sink: sink)
        #expect(otherSize == .failure(.wrongRange))
        let missing = try await RangedDownload.start(status: .partialContent, headers: Self.headers(nil), offset: 3, size: 10, sink: sink)
        #expect(missing == .failure(.wrongRange))
        #expect(try await sink.offset() == 3)
    }

    @Test("a 200 to a resume restarts from zero; 416 and other statuses are refusals")
    func otherStatuses() async throws {
        let sink = MemorySink([1, 2, 3])
        #expect(try await RangedDownload.start(status: .ok, headers: [:], offset: 3, size: 10, sink: sink) == .success(.restarted))
        #expect(try await sink.offset() == 0)
        #expect(try await RangedDownload.start(status: .ok, headers: [:], offset: 0, size: 10, sink: sink) == .success(.atOffset))
        #expect(try await RangedDownload.start(status: .rangeNotSatisfiable, headers: [:], offset: 3, size: 10, sink: sink) == .failure(.rangeNotSatisfiable))
        #expect(try await RangedDownload.start(status: .notFound, headers: [:], offset: 0, size: 10, sink: sink) == .failure(.status(404)))
    }

    static func body(_ chunks: [[UInt8]]) -> HTTPClientResponse.Body {
        .stream(chunks.map { ByteBuffer(bytes: $0) }.async)
    }

    @Test("a body is written until the size, never past it, and its end is reported")
    func bodies() async throws {
        let complete = MemorySink([0])
        #expect(try await RangedDownload.receive(Self.body([[1, 2], [3]]), into: complete, from: 1, size: 4) == .complete)
        #expect(complete.bytes.withLock { $0 } == [0, 1, 2, 3])

        let short = MemorySink()
        #expect(try await RangedDownload.receive(Self.body([[1, 2]]), into: short, from: 0, size: 4) == .endedEarly(at: 2))

        let long = MemorySink()
        #expect(try await RangedDownload.receive(Self.body([[1, 2], [3, 4, 5]]), into: long, from: 0, size: 4) == .overflow)
        #expect(long.bytes.withLock { $0 } == [1, 2], "nothing past the size is written")
    }

    @Test("a source sending less than its progress floor in a whole window is left (a lying peer's drip); the last bytes of a blob are not judged")
    func progressFloor() async throws {
        let started = ContinuousClock.now
        var floor = ProgressFloor(window: .seconds(10), minimum: 100, now: started)
        let drip = [floor.record(1, at: started + .seconds(4)), floor.record(1, at: started + .seconds(8)), floor.record(1, at: started + .seconds(12))]
        #expect(drip == [true, true, false], "no judgement within the window; then 3 bytes in 12 s, 100 asked per 10 s")
        var steady = ProgressFloor(window: .seconds(10), minimum: 100, now: started)
        let kept = [steady.record(150, at: started + .seconds(11)), steady.record(60, at: started + .seconds(15)), steady.record(60, at: started + .seconds(21))]
        #expect(kept == [true, true, true], "a new window starts at each judgement")

        // A window already over at the first byte: the source is left at once, with what it sent.
        let dripped = MemorySink()
        let late = ProgressFloor(window: .seconds(10), minimum: 100, now: .now - .seconds(11))
        #expect(try await RangedDownload.receive(Self.body([[1], [2], [3]]), into: dripped, from: 0, size: 10, floor: late) == .tooSlow(at: 1))
        // The last byte completes the blob: done, however slow.
        let finished = MemorySink()
        #expect(try await RangedDownload.receive(Self.body([[1]]), into: finished, from: 0, size: 1, floor: late) == .complete)
        // The floor a node asks of peers, and less when it caps its own downloads.
        #expect(ProgressFloor.peer().minimum == 32 * 1024 && ProgressFloor.peer().window == .seconds(10))
        #expect(ProgressFloor.peer(receivingAtMost: 16 * 1024).minimum == 10 * 1024)
        #expect(ProgressFloor.peer(receivingAtMost: Int64.max).minimum == 32 * 1024, "a huge cap asks the full floor, and does not overflow")
        // The receiver's own waits (its rate limit, its disk) are not the source's.
        var held = ProgressFloor(window: .seconds(10), minimum: 100, now: started)
        held.exclude(.seconds(9))
        let judged = [held.record(10, at: started + .seconds(12)), held.record(10, at: started + .seconds(20))]
        #expect(judged == [true, false], "12 s with 9 of them the receiver's: not yet a whole window; at 20 s it is")
    }
}

extension Array where Element: Sendable {
    /// The elements as an async sequence.
    var async: AsyncStream<Element> {
        AsyncStream { continuation in
            for element in self { continuation.yield(element) }
            continuation.finish()
        }
    }
}
