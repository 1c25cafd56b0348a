/// Thrown by ``waitUntil(_:timeout:every:_:)`` when the condition never held.
public struct WaitTimeout: Error, CustomStringConvertible {
    public var description: String
}

/// Polls `condition` until it holds; throws, naming `what` was awaited, once `timeout` passes.
/// For waiting on a state, not for asserting how long something takes: the timeout is generous
/// so that a loaded machine only makes the test slower.
public func waitUntil(
    _ what: String, timeout: Duration = .seconds(60), every interval: Duration = .milliseconds(20),
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        guard ContinuousClock.now < deadline else { throw WaitTimeout(description: "waited \(timeout) for \(what)") }
        try await Task.sleep(for: interval)
    }
}
