import FerryCore

/// Follows a leader through a restart: a `--follow` (`ferry install`, `ferry rollout`, their
/// `status --follow`) that meets an unreachable leader after it had answered keeps asking for
/// ``patience`` instead of ending the command, with one note on standard error per outage. A
/// leader that never answered (a wrong address, an untrusted certificate) fails at once.
struct LeaderPoll {
    /// How long a follow keeps asking a leader it cannot reach.
    static let patience: Duration = .seconds(120)
    /// Between two tries while the leader is unreachable.
    static let retryInterval: Duration = .seconds(1)

    private var unreachableSince: ContinuousClock.Instant?
    private var answered = false

    /// `fetch`'s answer; a transient failure (the leader unreachable, busy) is tried again until
    /// ``patience`` has passed since the first one of this outage, then thrown.
    mutating func next<T>(_ fetch: () async throws -> T) async throws -> T {
        while true {
            do {
                let value = try await fetch()
                unreachableSince = nil
                answered = true
                return value
            } catch let error as FerryError where error.isTransient && answered {
                let now = ContinuousClock.now
                guard let since = unreachableSince else {
                    unreachableSince = now
                    let line = TerminalText.escape(error.message, limit: 300)
                    FileOutput.standardError.write("ferry: \(line); still following, trying again for up to \(Self.patience.components.seconds) s\n")
                    try await Task.sleep(for: Self.retryInterval)
                    continue
                }
                guard now - since < Self.patience else { throw error }
                try await Task.sleep(for: Self.retryInterval)
            }
        }
    }
}
