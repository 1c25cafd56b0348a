import Foundation
import Synchronization

/// Nodes whose heartbeat presents a certificate other than the one the leader last issued them:
/// the renewal's answer was lost (the node kept using the certificate that renewal revoked), or
/// the leader was restored from a backup older than the node's certificate. Such a node may renew
/// outside its renewal window, at most once per ``interval`` (a node could otherwise claim a
/// stranger's serial at every heartbeat and fill the revocation list with its renewals). Kept in
/// memory: a restarted leader allows one more.
final class CertificateReissues: Sendable {
    /// The shortest time between two renewals of one node outside its window: a day.
    static let interval: TimeInterval = 24 * 3600

    private struct State {
        var mismatched: Set<Int64> = []
        var lastReissue: [Int64: Date] = [:]
    }

    private let state = Mutex(State())

    init() {}

    /// Notes what node `node` presents (`presented`, nil from an older follower) against the
    /// serial last issued to it (`recorded`); returns whether they differ.
    func note(node: Int64, presented: String?, recorded: String?) -> Bool {
        let differs = presented != nil && recorded != nil && presented?.lowercased() != recorded?.lowercased()
        state.withLock { state in
            if differs { state.mismatched.insert(node) } else if presented != nil { state.mismatched.remove(node) }
        }
        return differs
    }

    /// Whether node `node` may renew now outside its window: it presents another certificate,
    /// and had no such renewal within ``interval``.
    func mayReissue(node: Int64, now: Date) -> Bool {
        state.withLock { state in
            state.mismatched.contains(node) && state.lastReissue[node].map { now.timeIntervalSince($0) >= Self.interval } ?? true
        }
    }

    /// Node `node` got a renewal outside its window (recorded only once it is issued and
    /// recorded, so a renewal that failed on the way does not use up the day's; the leader
    /// takes one renewal of a node at a time, so none passes the check meanwhile).
    func reissued(node: Int64, now: Date) {
        state.withLock { state in
            state.mismatched.remove(node)
            state.lastReissue[node] = now
        }
    }
}
