import FerryCore

/// How much the tracker believes what one node says about another (TrackerState+Evidence).
/// Times in seconds.
public struct EvidenceRules: Sendable, Hashable {
    /// Distinct accusers, each with first-hand evidence, after which `ferry nodes` flags a source
    /// as reported (for the operator to look at; it changes no one else's sources). Default 2.
    public var quorum: Int
    /// How long an accusation counts towards the quorum. Default 600 s.
    public var window: Double
    /// How long an exclusion lasts (for the accuser), and the flag in `ferry nodes`. Default 600 s.
    public var exclusion: Double
    /// Weak reports (a corrupt blob with several contributors, a transfer that ended early) from
    /// one accuser against one source, within ``window``, that count as one conclusive report. Default 2.
    public var strikes: Int
    /// The least time between two re-verifications of one blob of the leader's, whatever is said. Default 300 s.
    public var leaderCheckInterval: Double
    /// How long the tracker remembers that it handed a receiver sources for a blob (what lets the
    /// receiver's claims and accusations about it count), from the last time it did: a receiver
    /// resuming asks again. Bounds the record to the receivers of the last few hours. Default 3 h.
    public var handedLifetime: Double

    public init(
        quorum: Int = 2, window: Double = 600, exclusion: Double = 600, strikes: Int = 2, leaderCheckInterval: Double = 300,
        handedLifetime: Double = 3 * 3600
    ) {
        self.handedLifetime = handedLifetime
        self.quorum = max(quorum, 1)
        self.window = window
        self.exclusion = exclusion
        self.strikes = max(strikes, 1)
        self.leaderCheckInterval = leaderCheckInterval
    }
}

/// What a receiver saw a source do, first hand.
public enum Misbehaviour: String, Sendable, Hashable {
    /// The bytes failed verification; with several sources named, each only maybe.
    case corrupt
    /// It sent more bytes than the blob has.
    case overflow
    /// It sent nothing for the stall timeout.
    case stalled
    /// Its transfer ended before the blob did.
    case truncated
}

/// Claims and accusations: **only first-hand evidence counts**.
///
/// - A node's claims (`receiving`, `present`) about a blob count only once the tracker handed it
///   a source for that blob, in this tracker's life; after a restart, an inventory's `present`
///   counts only for blobs the caller proves the node holds (the leader: blobs of images the node
///   has a `done` install target for).
/// - An accusation counts only against sources the tracker handed the accuser for that blob;
///   other names are ignored. The leader is never suspected on a node's word: an accusation of
///   it asks the leader to re-verify its own copy, at most once per ``EvidenceRules/leaderCheckInterval``.
/// - One conclusive report (a single source named) excludes the source *for the accuser*, for
///   every blob, for ``EvidenceRules/exclusion``. Weak reports (several sources in one corrupt
///   report, a transfer that ended early) are strikes; ``EvidenceRules/strikes`` of them from one
///   accuser make one conclusive report.
/// - No report excludes a source for anyone but its accuser: one join token can join any number
///   of names, so no count of accusers proves anything (and a liar can serve right bytes to
///   whoever checks). A source reported conclusively by ``EvidenceRules/quorum`` distinct
///   accusers within ``EvidenceRules/window`` is only flagged in `ferry nodes`, for the operator;
///   the flag decays.
///
/// So a lying node can make the tracker avoid a source only for itself, and an honest node
/// that meets a liar avoids it from then on, paying one failed transfer.
extension TrackerState {
    /// What came of an accusation.
    public struct Verdict: Sendable, Hashable {
        /// The leader should re-verify its own copy of the blob.
        public var checkLeader: Bool
        /// Sources the report counted against (handed to the accuser).
        public var counted: [String]
        /// Sources this report made flagged (reported by the quorum).
        public var flagged: [String]
    }

    /// A `receiving` claim: counts only if the tracker handed the node a source for the blob.
    public mutating func receiving(_ node: String, digest: Digest) {
        guard let who = ids[node] else { return }
        withBook(digest) { state, book in
            guard book.handed[who] != nil, book.state[Int(who)] == .none else { return }
            book.setState(who, .receiving, names: state.names)
        }
    }

    /// A `present` claim: counts if the tracker handed the node a source for the blob, or
    /// `proven` (the caller knows otherwise that the node holds it).
    public mutating func present(_ node: String, digest: Digest, proven: Bool = false) {
        let who = intern(node)
        withBook(digest) { state, book in
            guard proven || book.handed[who] != nil else { return }
            state.release(who, in: &book)
            book.setState(who, .complete, names: state.names)
        }
    }

    /// A `gone` event: the node holds none of the blob any more.
    public mutating func gone(_ node: String, digest: Digest) {
        guard let who = ids[node] else { return }
        withBook(digest) { state, book in
            state.release(who, in: &book)
            book.setState(who, .none, names: state.names)
        }
    }

    /// A full inventory from `node` after the tracker started: its complete holdings are
    /// replaced by those of `present` that count (handed, or in `proven`).
    public mutating func inventory(_ node: String, present: [Digest], proven: Set<Digest>) {
        let who = intern(node)
        for digest in Array(books.keys) where books[digest]?.state.count ?? 0 > Int(who) && books[digest]?.state[Int(who)] == .complete {
            withBook(digest) { state, book in book.setState(who, .none, names: state.names) }
        }
        inventories.insert(node)
        for digest in present { self.present(node, digest: digest, proven: proven.contains(digest)) }
    }

    /// `accuser` reports that `sources` misbehaved while sending it `digest`. The accuser's own
    /// holding of the blob is dropped when it discarded its bytes (corrupt, overflow).
    @discardableResult
    public mutating func accuse(
        _ accuser: String, digest: Digest, sources: [String], _ kind: Misbehaviour, now: Double
    ) -> Verdict {
        let who = intern(accuser)
        var verdict = Verdict(checkLeader: false, counted: [], flagged: [])
        let handed = books[digest]?.handed[who] ?? []
        if kind == .corrupt || kind == .overflow {
            withBook(digest) { state, book in
                state.release(who, in: &book)
                if book.state[Int(who)] == .receiving { book.setState(who, .none, names: state.names) }
            }
        }
        let named = Set(sources.compactMap { ids[$0] }).intersection(handed)
        if named.contains(0), kind == .corrupt || kind == .overflow {
            if now - (leaderChecks[digest] ?? -.infinity) >= evidence.leaderCheckInterval {
                leaderChecks[digest] = now
                verdict.checkLeader = true
            }
        }
        let peers = named.subtracting([0, who]).sorted()
        let weak = kind == .truncated || (kind == .corrupt && Set(sources).count > 1)
        for source in peers {
            verdict.counted.append(names[Int(source)])
            var conclusive = !weak
            if weak {
                var list = (strikes[source]?[who] ?? []).filter { now - $0 < evidence.window }
                list.append(now)
                conclusive = list.count >= evidence.strikes
                strikes[source, default: [:]][who] = conclusive ? nil : list
            }
            guard conclusive else { continue }
            personal[who, default: [:]][source] = now + evidence.exclusion
            var by = (accusations[source] ?? [:]).filter { now - $0.value < evidence.window }
            by[who] = now
            accusations[source] = by
            if by.count >= evidence.quorum, (flaggedUntil[source] ?? -.infinity) <= now {
                verdict.flagged.append(names[Int(source)])
            }
            if by.count >= evidence.quorum { flaggedUntil[source] = now + evidence.exclusion }
        }
        return verdict
    }

    /// Sources no request of `requester` may be given now: `failed`, and those it reported.
    /// Never the leader (its own checks decide about its copy).
    func excludedIDs(for requester: Int32, failed: [String], now: Double) -> Set<Int32> {
        var excluded = Set(failed.compactMap { ids[$0] })
        if let mine = personal[requester] {
            for (source, until) in mine where until > now { excluded.insert(source) }
        }
        excluded.remove(0)
        return excluded
    }

    /// Whether `source` is excluded for `requester` now (for tests and status).
    public func isExcluded(_ source: String, for requester: String, now: Double) -> Bool {
        guard let id = ids[source], id != 0, let who = ids[requester] else { return false }
        return (personal[who]?[id] ?? -.infinity) > now
    }

    /// Nodes the quorum reported, with how many distinct accusers did: the flag of `ferry nodes`.
    /// It decays after ``EvidenceRules/exclusion``.
    public func flagged(now: Double) -> [String: Int] {
        var flags: [String: Int] = [:]
        for (source, until) in flaggedUntil where until > now {
            flags[names[Int(source)]] = max(accusations[source]?.count ?? 0, evidence.quorum)
        }
        return flags
    }
}
