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
