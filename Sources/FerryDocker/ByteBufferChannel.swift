import NIOCore
import Synchronization

/// A bounded single-producer, single-consumer channel of byte buffers: the bridge between a
/// push-style writer (``DockerArchive/write(to:)``) and a pull-style request body.
///
/// ``send(_:)`` suspends while `capacity` buffers wait, so the producer runs no further ahead
/// of the consumer than that: memory stays flat however much flows through. Either side can end
/// the channel: the producer with ``finish(throwing:)``, the consumer with ``close(_:)``;
/// cancelling a suspended side's task ends its wait with `CancellationError`.
final class ByteBufferChannel: AsyncSequence, Sendable {
    typealias Element = ByteBuffer

    private struct State {
        var queue = CircularBuffer<ByteBuffer>()
        /// Set when the producer is done: nil error for a clean end.
        var finished: Result<Void, any Error>?
        /// Set when the consumer will read no more.
        var closed: (any Error)?
        var consumer: CheckedContinuation<ByteBuffer?, any Error>?
        var producer: CheckedContinuation<Void, any Error>?
        var producerCancelled = false
        var consumerCancelled = false
    }

    private let capacity: Int
    private let state = Mutex(State())

    init(capacity: Int = 4) {
        precondition(capacity > 0)
        self.capacity = capacity
    }

    /// Hands `buffer` to the consumer; suspends while the channel is full.
    func send(_ buffer: ByteBuffer) async throws {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                enum Action {
                    case resume(Result<Void, any Error>)
                    case deliver(CheckedContinuation<ByteBuffer?, any Error>)
                    case wait
                }
                let action = state.withLock { state -> Action in
                    if let error = state.closed { return .resume(.failure(error)) }
                    if state.producerCancelled { return .resume(.failure(CancellationError())) }
                    if let consumer = state.consumer {
                        state.consumer = nil
                        return .deliver(consumer)
                    }
                    state.queue.append(buffer)
                    if state.queue.count < capacity { return .resume(.success(())) }
                    state.producer = continuation
                    return .wait
                }
                switch action {
                case .resume(let result):
                    continuation.resume(with: result)
                case .deliver(let consumer):
                    consumer.resume(returning: buffer)
                    continuation.resume()
                case .wait:
                    break
                }
            }
        } onCancel: {
            let producer = state.withLock { state in
                state.producerCancelled = true
                defer { state.producer = nil }
                return state.producer
            }
            producer?.resume(throwing: CancellationError())
        }
    }

    /// Ends the stream: the consumer gets the queued buffers then the end, or `error` at once.
    func finish(throwing error: (any Error)? = nil) {
        let consumer = state.withLock { state -> CheckedContinuation<ByteBuffer?, any Error>? in
            guard state.finished == nil else { return nil }
            if let error {
                state.finished = .failure(error)
                state.queue.removeAll()
            } else {
                state.finished = .success(())
            }
            defer { state.consumer = nil }
            return state.consumer
        }
        if let error { consumer?.resume(throwing: error) } else { consumer?.resume(returning: nil) }
    }

    /// Called by the consumer when it stops reading: the producer's current and later sends
    /// throw `error`.
    func close(_ error: any Error) {
        let producer = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            if state.closed == nil { state.closed = error }
            state.queue.removeAll()
            defer { state.producer = nil }
            return state.producer
        }
        producer?.resume(throwing: error)
    }

    fileprivate func next() async throws -> ByteBuffer? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<ByteBuffer?, any Error>) in
                enum Action {
                    case resume(Result<ByteBuffer?, any Error>, producer: CheckedContinuation<Void, any Error>?)
                    case wait
                }
                let action = state.withLock { state -> Action in
                    if state.consumerCancelled { return .resume(.failure(CancellationError()), producer: nil) }
                    if let buffer = state.queue.popFirst() {
                        defer { state.producer = nil }
                        return .resume(.success(buffer), producer: state.producer)
                    }
                    switch state.finished {
                    case .success: return .resume(.success(nil), producer: nil)
                    case .failure(let error): return .resume(.failure(error), producer: nil)
                    case nil:
                        state.consumer = continuation
                        return .wait
                    }
                }
                if case .resume(let result, let producer) = action {
                    producer?.resume()
                    continuation.resume(with: result)
                }
            }
        } onCancel: {
            let consumer = state.withLock { state in
                state.consumerCancelled = true
                defer { state.consumer = nil }
                return state.consumer
            }
            consumer?.resume(throwing: CancellationError())
        }
    }

    struct AsyncIterator: AsyncIteratorProtocol {
        let channel: ByteBufferChannel

        mutating func next() async throws -> ByteBuffer? {
            try await channel.next()
        }
    }

    func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(channel: self)
    }
}
