import NIOCore
import Synchronization
import Testing

@testable import FerryDocker

@Suite("ByteBufferChannel")
struct ByteBufferChannelTests {
    @Test("the producer never gets more than the capacity ahead of a slow consumer; everything arrives in order")
    func backPressure() async throws {
        let channel = ByteBufferChannel(capacity: 3)
        let sent = Atomic<Int>(0)
        let producer = Task {
            for index in 0..<200 {
                try await channel.send(ByteBuffer(integer: UInt32(index)))
                sent.add(1, ordering: .sequentiallyConsistent)
            }
            channel.finish()
        }
        var received: [UInt32] = []
        var maximumAhead = 0
        for try await var buffer in channel {
            // send() returns once its buffer is queued: at most `capacity` wait unread.
            maximumAhead = max(maximumAhead, sent.load(ordering: .sequentiallyConsistent) - received.count)
            received.append(buffer.readInteger(as: UInt32.self) ?? .max)
            if received.count % 10 == 0 { await Task.yield() }
        }
        try await producer.value
        #expect(received == (0..<200).map(UInt32.init))
        #expect(maximumAhead <= 3)
    }

    @Test("closing the consumer side fails a producer that waits for space, and later sends")
    func consumerClose() async throws {
        struct Stop: Error {}
        let channel = ByteBufferChannel(capacity: 1)
        let producer = Task {
            try await channel.send(ByteBuffer(string: "a"))  // queued
            try await channel.send(ByteBuffer(string: "b"))  // waits for space
        }
        // Whether the producer is already waiting or not, it must end with the close's error.
        await Task.yield()
        channel.close(Stop())
        await #expect(throws: Stop.self) { try await producer.value }
        await #expect(throws: Stop.self) { try await channel.send(ByteBuffer(string: "c")) }
    }

    @Test("a producer failure reaches the consumer at once")
    func producerFailure() async throws {
        struct Broken: Error {}
        let channel = ByteBufferChannel(capacity: 4)
        try await channel.send(ByteBuffer(string: "a"))
        channel.finish(throwing: Broken())
        var iterator = channel.makeAsyncIterator()
        await #expect(throws: Broken.self) { _ = try await iterator.next() }
    }

    @Test("cancelling a waiting consumer ends its wait")
    func consumerCancellation() async throws {
        let channel = ByteBufferChannel(capacity: 4)
        let consumer = Task {
            var iterator = channel.makeAsyncIterator()
            return try await iterator.next()
        }
        consumer.cancel()
        await #expect(throws: CancellationError.self) { _ = try await consumer.value }
    }
}
