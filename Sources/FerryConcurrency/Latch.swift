import Synchronization

/// A flag that is set once and stays set, readable from any task: "the download finished",
/// "the follower is stopping".
public final class Latch: Sendable {
    private let state = Mutex(false)

    public init() {}

    /// Sets the flag (again: no effect).
    public func set() { state.withLock { $0 = true } }

    public var isSet: Bool { state.withLock { $0 } }
}
