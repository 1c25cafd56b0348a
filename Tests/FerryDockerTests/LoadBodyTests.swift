import AsyncAlgorithms
import NIOCore
import Synchronization
import Testing

@testable import FerryDocker

/// The `docker load` request body: an `AsyncThrowingChannel` read through a bounded buffer.
@Suite("LoadBody")
struct LoadBodyTests {
    @Test("the writer never gets more than the capacity (and the buffer in hand) ahead of a slow reader; everything arrives in order")
    func backPressure() async throws {
        let body = LoadBody()
        let sent = Atomic<Int>(0)
        let writer = Task {
            for index in 0..<200 {
                try await body.send(ByteBuffer(integer: UInt32(index)))
                sent.add(1, ordering: .sequentiallyConsistent)
            }
            body.channel.finish()
        }
        var received: [UInt32] = []
        var maximumAhead = 0
        for try await var buffer in body.requestBody {
            // send() returns once the buffer task has taken its buffer: at most `capacity` wait
            // unread, one more is on its way into the buffer.
            maximumAhead = max(maximumAhead, sent.load(ordering: .sequentiallyConsistent) - received.count)
            received.append(buffer.readInteger(as: UInt32.self) ?? .max)
            if received.count % 10 == 0 { await Task.yield() }
        }
        try await writer.value
        #expect(received == (0..<200).map(UInt32.init))
        #expect(maximumAhead <= LoadBody.capacity + 1)
    }

    @Test("stop() fails a writer that waits for the reader, and later sends")
    func stop() async throws {
        let body = LoadBody()
        let writer = Task {
            // Nobody reads: the first send already waits.
            try await body.send(ByteBuffer(string: "a"))
            try await body.send(ByteBuffer(string: "b"))
        }
        // Whether the writer is already waiting or not, it must end with UploadStopped.
        await Task.yield()
        body.stop()
        await #expect(throws: UploadStopped.self) { try await writer.value }
        await #expect(throws: UploadStopped.self) { try await body.send(ByteBuffer(string: "c")) }
    }

    @Test("cancelling a waiting writer ends its wait with CancellationError")
    func writerCancellation() async throws {
        let body = LoadBody()
        let writer = Task { try await body.send(ByteBuffer(string: "a")) }
        writer.cancel()
        await #expect(throws: CancellationError.self) { try await writer.value }
    }

    @Test("a writer failure reaches the reader, after the buffers sent before it")
    func writerFailure() async throws {
        struct Broken: Error {}
        let body = LoadBody()
        let writer = Task {
            try await body.send(ByteBuffer(string: "a"))
            body.channel.fail(Broken())
        }
        var received: [String] = []
        await #expect(throws: Broken.self) {
            for try await buffer in body.requestBody { received.append(String(buffer: buffer)) }
        }
        try await writer.value
        #expect(received == ["a"])
    }

    @Test("cancelling a waiting reader ends its wait")
    func readerCancellation() async throws {
        let body = LoadBody()
        let reader = Task {
            var iterator = body.requestBody.makeAsyncIterator()
            return try await iterator.next()
        }
        reader.cancel()
        // The buffer ends a cancelled read as the end of the body; the HTTP client then fails
        // the request for a body shorter than its Content-Length.
        #expect(try await reader.value == nil)
    }
}
