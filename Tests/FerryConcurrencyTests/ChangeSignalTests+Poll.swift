import FerryConcurrency
import FerryTestSupport
import Synchronization
import Testing

extension ChangeSignalTests {
    final class Counter: Sendable {
        private let value = Mutex(0)
        func add() { value.withLock { $0 += 1 } }
        var current: Int { value.withLock { $0 } }
    }

    @Test("poll returns the first value that is settled, without waiting")
    func pollSettledAtOnce() async throws {
        let signal = ChangeSignal()
        let reads = Counter()
        let value = try await signal.poll(for: .seconds(3600)) {
            reads.add()
            return 7
        } until: { $0 == 7 }
        #expect(value == 7)
        #expect(reads.current == 1)
    }

    @Test("poll reads again after each change, and returns once the value is settled")
    func pollReadsAfterChanges() async throws {
        let signal = ChangeSignal()
        let source = Counter()
        let reads = Counter()
        let result = Mutex<Int?>(nil)
        let poller = Task {
            let value = try await signal.poll(for: .seconds(3600)) {
                reads.add()
                return source.current
            } until: { $0 >= 2 }
            result.withLock { $0 = value }
        }
        defer { poller.cancel() }
        try await waitUntil("the poll waits", timeout: .seconds(120)) { signal.waiterCount == 1 }
        source.add()
        signal.notify()
        try await waitUntil("the poll read again and waits", timeout: .seconds(120)) { reads.current == 2 && signal.waiterCount == 1 }
        source.add()
        signal.notify()
        try await waitUntil("the poll returns", timeout: .seconds(120)) { result.withLock { $0 } != nil }
        #expect(result.withLock { $0 } == 2)
        #expect(reads.current == 3)
    }

    @Test("poll returns the unsettled value when its wait is over, or at once when the signal is closed")
    func pollEnds() async throws {
        let signal = ChangeSignal()
        let value = try await signal.poll(for: .milliseconds(20)) { 1 } until: { _ in false }
        #expect(value == 1)
        signal.close()
        let reads = Counter()
        _ = try await signal.poll(for: .seconds(3600)) { reads.add() } until: { _ in false }
        #expect(reads.current == 1)
    }

    @Test("an error thrown by the settled check ends the poll")
    func pollThrows() async {
        struct Refused: Error {}
        let signal = ChangeSignal()
        await #expect(throws: Refused.self) {
            _ = try await signal.poll(for: .seconds(3600)) { 1 } until: { _ in throw Refused() }
        }
    }
}
