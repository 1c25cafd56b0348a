import Synchronization
import Testing

@testable import FerryTransfer

/// One operation per key; a caller's cancellation affects only that caller.
@Suite("SingleFlight", .timeLimit(.minutes(5)))
struct SingleFlightTests {
    /// An operation that runs until released, counting its runs and whether it saw cancellation.
    final class Gate: Sendable {
        let runs = Mutex(0)
        let cancelled = Mutex(0)
        private let stream: AsyncStream<Int>
        private let release: AsyncStream<Int>.Continuation

        init() {
            (stream, release) = AsyncStream.makeStream(of: Int.self)
        }

        func open(_ value: Int) { release.yield(value) }

        func operation() async throws -> Int {
            runs.withLock { $0 += 1 }
            return try await withTaskCancellationHandler {
                for await value in stream { return value }
                throw CancellationError()
            } onCancel: {
                self.cancelled.withLock { $0 += 1 }
                self.release.finish()
            }
        }
    }

    static func waitForWaiters(_ flight: SingleFlight<String, Int>, _ key: String, _ count: Int) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        while await flight.waiters(for: key) != count {
            guard ContinuousClock.now < deadline else {
                Issue.record("never saw \(count) waiters")
                return
            }
            await Task.yield()
        }
    }

    @Test("concurrent callers share one run and all get its result")
    func shared() async throws {
        let flight = SingleFlight<String, Int>()
        let gate = Gate()
        async let a = flight.run("k") { try await gate.operation() }
        async let b = flight.run("k") { try await gate.operation() }
        async let c = flight.run("k") { try await gate.operation() }
        try await Self.waitForWaiters(flight, "k", 3)
        gate.open(7)
        #expect(try await [a, b, c] == [7, 7, 7])
        #expect(gate.runs.withLock { $0 } == 1)
        #expect(await flight.keys.isEmpty)
    }

    @Test("the first caller cancelled mid-run: the run goes on and the second caller gets its result")
    func firstCallerCancelled() async throws {
        let flight = SingleFlight<String, Int>()
        let gate = Gate()
        let first = Task { try await flight.run("blob") { try await gate.operation() } }
        try await Self.waitForWaiters(flight, "blob", 1)
        let second = Task { try await flight.run("blob") { try await gate.operation() } }
        try await Self.waitForWaiters(flight, "blob", 2)
        first.cancel()
        await #expect(throws: CancellationError.self) { try await first.value }
        try await Self.waitForWaiters(flight, "blob", 1)
        gate.open(42)
        #expect(try await second.value == 42)
        #expect(gate.runs.withLock { $0 } == 1)
        #expect(gate.cancelled.withLock { $0 } == 0)
    }

    @Test("the last caller leaving cancels the run")
    func lastCallerCancels() async throws {
        let flight = SingleFlight<String, Int>()
        let gate = Gate()
        let only = Task { try await flight.run("k") { try await gate.operation() } }
        try await Self.waitForWaiters(flight, "k", 1)
        only.cancel()
        await #expect(throws: CancellationError.self) { try await only.value }
        let deadline = ContinuousClock.now + .seconds(10)
        while await !flight.keys.isEmpty, ContinuousClock.now < deadline { await Task.yield() }
        #expect(await flight.keys.isEmpty)
        #expect(gate.cancelled.withLock { $0 } == 1)
    }

    @Test("a caller arriving after the run was abandoned gets a fresh run, not the abandoned one's cancellation")
    func rejoinAfterAbandon() async throws {
        let flight = SingleFlight<String, Int>()
        let slow = Gate()
        // A run that, once cancelled, takes a moment to wind down, so that a new caller joins it.
        let windDown = AsyncStream.makeStream(of: Void.self)
        let first = Task {
            try await flight.run("k") {
                do {
                    return try await slow.operation()
                } catch {
                    for await _ in windDown.stream { break }
                    throw error
                }
            }
        }
        try await Self.waitForWaiters(flight, "k", 1)
        first.cancel()
        _ = await first.result
        let fresh = Gate()
        let second = Task { try await flight.run("k") { try await fresh.operation() } }
        try await Self.waitForWaiters(flight, "k", 1)
        windDown.continuation.yield()
        while fresh.runs.withLock({ $0 }) == 0 { await Task.yield() }
        fresh.open(9)
        #expect(try await second.value == 9)
        #expect(slow.runs.withLock { $0 } == 1)
        #expect(fresh.runs.withLock { $0 } == 1)
    }

    @Test("an error reaches every waiter, and the next call runs again")
    func errors() async throws {
        struct Boom: Error {}
        let flight = SingleFlight<String, Int>()
        let runs = Mutex(0)
        await #expect(throws: Boom.self) {
            try await flight.run("k") {
                runs.withLock { $0 += 1 }
                throw Boom()
            }
        }
        #expect(try await flight.run("k") { runs.withLock { $0 += 1 }; return 1 } == 1)
        #expect(runs.withLock { $0 } == 2)
    }

    @Test("cancelAll cancels every run and returns only once each has ended")
    func cancelAllWaits() async throws {
        let flight = SingleFlight<String, Int>()
        let ended = Mutex(false)
        let gate = Gate()
        let caller = Task {
            try await flight.run("k") {
                defer { ended.withLock { $0 = true } }
                return try await gate.operation()
            }
        }
        try await Self.waitForWaiters(flight, "k", 1)
        await flight.cancelAll()
        #expect(ended.withLock { $0 }, "the run had ended when cancelAll returned")
        #expect(gate.cancelled.withLock { $0 } == 1)
        await #expect(throws: CancellationError.self) { try await caller.value }
    }

    @Test("an already-cancelled caller does not start a run")
    func cancelledBeforeStart() async throws {
        let flight = SingleFlight<String, Int>()
        let runs = Mutex(0)
        let task = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await flight.run("k") { runs.withLock { $0 += 1 }; return 1 }
        }
        await #expect(throws: CancellationError.self) { try await task.value }
        #expect(runs.withLock { $0 } == 0)
    }
}
