/// Runs at most one operation per key at a time, however many callers ask for it, and gives
/// every caller its result.
///
/// A caller's cancellation affects only that caller: it stops waiting at once (with
/// `CancellationError`) while the operation goes on for everyone else still waiting. When the
/// last waiter leaves, the operation is cancelled; a caller that arrives while a cancelled
/// operation is still winding down waits for it and, if it ended in failure, gets a fresh run
/// instead of the abandoned one's error.
public actor SingleFlight<Key: Hashable & Sendable, Value: Sendable> {
    public typealias Operation = @Sendable () async throws -> Value

    private struct Flight {
        var id: UInt64
        var task: Task<Void, Never>
        var operation: Operation
        var waiters: [UInt64: CheckedContinuation<Value, any Error>]
        /// Cancelled because nobody waited any more.
        var abandoned = false
        /// Someone joined after it was abandoned: a failure means "run again", not an answer.
        var rejoined = false
    }

    private var flights: [Key: Flight] = [:]
    private var counter: UInt64 = 0

    public init() {}

    /// Runs `operation` for `key`, or waits for the run already in flight for it.
    public func run(_ key: Key, _ operation: @escaping Operation) async throws -> Value {
        counter += 1
        let waiter = counter
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                join(key, waiter, continuation, operation)
            }
        } onCancel: {
            Task { await self.leave(key, waiter) }
        }
    }

    /// Cancels every operation in flight and waits until each has ended, so that nothing they
    /// hold (files, connections) outlives a shutdown. Their waiters get their outcome
    /// (`CancellationError`, unless one had already finished).
    public func cancelAll() async {
        let tasks = flights.values.map(\.task)
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
    }

    /// Keys with an operation in flight.
    public var keys: [Key] { Array(flights.keys) }

    /// How many callers wait for `key`'s operation now (0 when none is in flight).
    public func waiters(for key: Key) -> Int { flights[key]?.waiters.count ?? 0 }

    private func join(_ key: Key, _ waiter: UInt64, _ continuation: CheckedContinuation<Value, any Error>, _ operation: @escaping Operation) {
        if Task.isCancelled {
            continuation.resume(throwing: CancellationError())
            return
        }
        guard var flight = flights[key] else {
            start(key, operation, waiters: [waiter: continuation])
            return
        }
        flight.waiters[waiter] = continuation
        if flight.abandoned {
            flight.rejoined = true
            flight.operation = operation
        }
        flights[key] = flight
    }

    private func start(_ key: Key, _ operation: @escaping Operation, waiters: [UInt64: CheckedContinuation<Value, any Error>]) {
        counter += 1
        let id = counter
        let task = Task {
            let result: Result<Value, any Error>
            do {
                result = .success(try await operation())
            } catch {
                result = .failure(error)
            }
            self.finish(key, id, result)
        }
        flights[key] = Flight(id: id, task: task, operation: operation, waiters: waiters)
    }

    private func finish(_ key: Key, _ id: UInt64, _ result: Result<Value, any Error>) {
        guard let flight = flights[key], flight.id == id else { return }
        flights[key] = nil
        if case .failure = result, flight.rejoined, !flight.waiters.isEmpty {
            start(key, flight.operation, waiters: flight.waiters)
            return
        }
        for continuation in flight.waiters.values { continuation.resume(with: result) }
    }

    private func leave(_ key: Key, _ waiter: UInt64) {
        guard var flight = flights[key], let continuation = flight.waiters.removeValue(forKey: waiter) else { return }
        continuation.resume(throwing: CancellationError())
        if flight.waiters.isEmpty {
            flight.abandoned = true
            flight.rejoined = false
            flight.task.cancel()
        }
        flights[key] = flight
    }
}
