import FerryCore
import Foundation
import Logging
import Synchronization

/// Whether a licence may go on downloading, for a blob stream under way. Expiry is checked at
/// once from the licence held; revocation is re-read from the database at most every
/// ``interval``, by a refresh task off the data path (a stream never waits for the database),
/// and by ``patrol()`` every ``interval`` whatever the stream does (a customer that reads slowly
/// keeps a write waiting).
/// A read that fails keeps the last answer; only a licence not confirmed for ``tolerance`` (the
/// token lifetime: what an issued token would be trusted for anyway) is refused.
final class LicenceWatch: Sendable {
    let interval: Duration
    let tolerance: Duration
    private let id: Int64
    private let database: any ProxyStore
    /// The proxy's stop: a stream still running at its cut is refused as a revoked one is.
    private let stopping: ProxyStopping?
    private let logger: Logger
    private struct State {
        var licence: Licence
        var confirmed: ContinuousClock.Instant
        var asked: ContinuousClock.Instant
        var refreshing = false
        /// Since when re-reads fail (nil while the last one answered).
        var failingSince: ContinuousClock.Instant?
        /// The refusal ``patrol()`` found.
        var patrolRefusal: ProxyError?
    }
    private let state: Mutex<State>

    init(
        licence: Licence, database: any ProxyStore, interval: Duration = .seconds(1), tolerance: Duration, stopping: ProxyStopping? = nil,
        logger: Logger
    ) {
        let now = ContinuousClock.now
        self.stopping = stopping
        self.id = licence.id
        self.interval = interval
        self.tolerance = tolerance
        self.database = database
        self.logger = logger
        self.state = Mutex(State(licence: licence, confirmed: now, asked: now))
    }

    /// Throws the refusal (`403`) once the licence is revoked or expired, `503` once it could not
    /// be read for ``tolerance``; starts a refresh when the last one is older than ``interval``.
    func check() throws(ProxyError) {
        let now = ContinuousClock.now
        let (licence, confirmed, failing, refresh) = state.withLock { state in
            let due = !state.refreshing && now - state.asked >= interval
            if due {
                state.refreshing = true
                state.asked = now
            }
            return (state.licence, state.confirmed, state.failingSince != nil, due)
        }
        if let refusal = ProxyAuthenticator.refusal(of: licence, now: Date()) ?? stopping?.refusal { throw refusal }
        // Only a database that keeps failing: a stream that paused (a slow upstream or reader)
        // has a stale confirmation, not a failing one.
        guard !failing || now - confirmed <= tolerance else {
            throw ProxyError(FerryError(.busy, "the licence could not be checked for \(tolerance.components.seconds) s (the proxy's database does not answer); retry later"))
        }
        if refresh { Task { await self.refresh() } }
    }

    /// Re-reads the licence now (after a wait for a stream slot, say), then ``check()``. It
    /// counts as the interval's re-read: ``check()`` starts none of its own meanwhile.
    func recheck() async throws(ProxyError) {
        state.withLock { state in
            state.asked = .now
            state.refreshing = true
        }
        await refresh()
        try check()
    }

    /// Re-reads the licence every ``interval`` until cancelled; returns once it is refused
    /// (revoked, expired, or not confirmed for ``tolerance``), the refusal in ``refusal``.
    func patrol() async {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
            do {
                try await recheck()
            } catch {
                state.withLock { $0.patrolRefusal = error }
                return
            }
        }
    }

    /// The refusal ``patrol()`` found, if it found one.
    var refusal: ProxyError? { state.withLock { $0.patrolRefusal } }

    private func refresh() async {
        do {
            let current = try await database.licence(id: id)
            state.withLock { state in
                if let current { state.licence = current }
                state.confirmed = .now
                state.refreshing = false
                state.failingSince = nil
            }
        } catch {
            state.withLock { state in
                state.refreshing = false
                if state.failingSince == nil { state.failingSince = .now }
            }
            logger.warning("cannot re-check a licence during its download; serving on", metadata: ["licence": "\(id)", "error": "\(error)"])
        }
    }
}
