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
    /// The least time between two re-verifications of one blob of the leader's, or of a flagged
    /// node's, whatever is said. Default 300 s.
    public var leaderCheckInterval: Double
    /// How long the tracker remembers that it handed a receiver sources for a blob (what lets the
    /// receiver's claims and accusations about it count), from the last time it did: a receiver
    /// resuming asks again. Bounds the record to the receivers of the last few hours. Default 3 h.
    public var handedLifetime: Double
    /// How close in time a source's own report of trouble with a blob (its feed stalled or broke
    /// off) and a receiver's `stalled` or `truncated` report against that source for that blob
    /// must be, in either order, for the first to explain the second. Default 30 s (six stall timeouts).
    public var explanationGrace: Double

    public init(
        quorum: Int = 2, window: Double = 600, exclusion: Double = 600, strikes: Int = 2, leaderCheckInterval: Double = 300,
        handedLifetime: Double = 3 * 3600, explanationGrace: Double = 30
    ) {
        self.handedLifetime = handedLifetime
        self.explanationGrace = explanationGrace
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
///   the flag decays. A flagged node that a conclusive `corrupt` or `overflow` report names is
///   asked to re-hash its copy of that blob (at most once per blob per
///   ``EvidenceRules/leaderCheckInterval``): an honest node whose disk damaged it drops the copy; a
///   liar ignores the request and stays avoided. Names from one join token make a quorum, so a
///   liar can make an honest node re-hash the blobs it was handed that node for: the node then
///   skips a blob it found sound within the hour (`BlobRecheck`), and never drops a sound copy.
///
/// - A relay's trouble explains its receivers' reports. A node that reports a blob's sources
///   misbehaving (its feed of that blob failed it) is an honest relay's likely story when its own
///   receivers report it, for that blob: a `stalled` or `truncated` within
///   ``EvidenceRules/explanationGrace`` of the relay's report (before or after it: the two race to
///   the leader), or a `corrupt` naming several contributors, against those of them that threw
///   their bytes away (reported the blob `corrupt` or `overflow`) within ``EvidenceRules/window``.
///   Such a report counts nothing against them; one that counted before the relay's report came
///   is undone, newest first (what it changed, unless something later changed it again). One
///   blob's story of at most two reports per accuser and source per window is believed, its
///   window counted from the first, so a liar cannot explain away a habit. (A node listed as
///   holding the whole blob may be in trouble too: one that found its copy damaged fetches it
///   again while still listed.)
/// - While the leader's own upstream transfer of a blob stands still (no byte for 3 s), a
///   `stalled` or `truncated` report against a source that does not hold the whole blob counts
///   nothing, however many: a relay at the edge of what has arrived waits on the upstream as its
///   receivers do, and an upstream stall of a minute would otherwise have every relay excluded
///   by its receivers for ``EvidenceRules/exclusion``. A transfer that moves is no excuse: a liar
///   that stalls its receivers while the upstream sends is reported as before.
///
/// So a lying node can make the tracker avoid a source only for itself, and an honest node
/// that meets a liar avoids it from then on, paying one failed transfer.
extension TrackerState {
    /// What came of an accusation.
    public struct Verdict: Sendable, Hashable {
        /// The leader should re-verify its own copy of the blob.
        public var checkLeader: Bool
        /// Flagged nodes the report counted against conclusively that should re-verify their copy of the blob.
        public var checkPeers: [String] = []
        /// Sources the report counted against (handed to the accuser).
        public var counted: [String]
        /// Sources this report made flagged (reported by the quorum).
        public var flagged: [String]
        /// Sources this report did not count against: their own trouble with the blob explains it.
        public var explained: [String] = []
        /// Sources this report did not count against: the leader's own upstream transfer of the
        /// blob stood still, and they relay it.
        public var upstreamStalled: [String] = []
        /// Earlier reports (accuser, source) this report explains, undone.
        public var withdrawn: [Withdrawal] = []
    }

    /// An earlier report undone because the source's own report of trouble explains it.
    public struct Withdrawal: Sendable, Hashable {
        public var accuser: String
        public var source: String
    }

    /// A node's own report of trouble with a blob's sources (for explanations).
    struct Trouble: Sendable, Hashable {
        /// When it last reported trouble with the blob.
        var at: Double
        /// When it last threw its bytes of the blob away (`corrupt`, `overflow`), if it did.
        var discardedAt: Double?
    }

    /// When a report of one accuser against one source was last explained away, and about which blob.
    struct Excuse: Sendable, Hashable {
        var at: Double
        var digest: Digest
        /// Reports explained in this story.
        var count: Int
    }

    /// What one counted report changed, kept for ``EvidenceRules/explanationGrace`` so that the
    /// source's own report of trouble can undo it.
    struct CountedReport: Sendable, Hashable {
        var accuser: Int32
        var source: Int32
        var digest: Digest
        var at: Double
        var before: Record
        var after: Record
    }

    /// The evidence one (source, accuser) pair holds.
    struct Record: Sendable, Hashable {
        var strikes: [Double]?
        var exclusion: Double?
        var accusation: Double?
        var flag: Double?
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
    /// `upstreamStalled`: the leader's own transfer of the blob from its upstream has stood still.
    @discardableResult
    public mutating func accuse(
        _ accuser: String, digest: Digest, sources: [String], _ kind: Misbehaviour, now: Double, upstreamStalled: Bool = false
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
        if !handed.isEmpty {
            verdict.withdrawn = troubled(who, digest: digest, discarded: kind == .corrupt || kind == .overflow, now: now)
        }
        let peers = named.subtracting([0, who]).sorted()
        let weak = kind == .truncated || (kind == .corrupt && Set(sources).count > 1)
        var conclusiveAgainst: [Int32] = []
        for source in peers {
            if upstreamStalled, kind == .stalled || kind == .truncated, !holdsWhole(source, digest: digest) {
                verdict.upstreamStalled.append(names[Int(source)])
                continue
            }
            let explainable =
                switch kind {
                case .stalled, .truncated: troubledRecently(source, digest: digest, now: now)
                case .corrupt: weak && discarded(source, digest: digest, now: now)
                case .overflow: false
                }
            if explainable, excuse(who, source: source, digest: digest, now: now) {
                verdict.explained.append(names[Int(source)])
                continue
            }
            let before = record(source: source, accuser: who)
            defer {
                if kind == .stalled || kind == .truncated {
                    reports.append(
                        CountedReport(
                            accuser: who, source: source, digest: digest, at: now, before: before, after: record(source: source, accuser: who)))
                }
            }
            verdict.counted.append(names[Int(source)])
            var conclusive = !weak
            if weak {
                var list = (strikes[source]?[who] ?? []).filter { now - $0 < evidence.window }
                list.append(now)
                conclusive = list.count >= evidence.strikes
                strikes[source, default: [:]][who] = conclusive ? nil : list
            }
            guard conclusive else { continue }
            conclusiveAgainst.append(source)
            personal[who, default: [:]][source] = now + evidence.exclusion
            var by = (accusations[source] ?? [:]).filter { now - $0.value < evidence.window }
            by[who] = now
            accusations[source] = by
            if by.count >= evidence.quorum, (flaggedUntil[source] ?? -.infinity) <= now {
                verdict.flagged.append(names[Int(source)])
            }
            if by.count >= evidence.quorum { flaggedUntil[source] = now + evidence.exclusion }
        }
        if kind == .corrupt || kind == .overflow {
            verdict.checkPeers = conclusiveAgainst.filter { askToRecheck($0, digest: digest, now: now) }.map { names[Int($0)] }
        }
        return verdict
    }

    /// Whether flagged `source` is to re-verify its copy of `digest` now (recorded if so).
    private mutating func askToRecheck(_ source: Int32, digest: Digest, now: Double) -> Bool {
        guard (flaggedUntil[source] ?? -.infinity) > now else { return false }
        var asked = (peerChecks[digest] ?? [:]).filter { now - $0.value < evidence.leaderCheckInterval }
        guard asked[source] == nil else { return false }
        asked[source] = now
        peerChecks[digest] = asked
        return true
    }

    /// `node` reported trouble with its sources of `digest`: remembered (to explain its receivers'
    /// reports against it), and the reports of the last ``EvidenceRules/explanationGrace`` against
    /// it for that blob are undone. Returns those undone.
    private mutating func troubled(_ node: Int32, digest: Digest, discarded: Bool, now: Double) -> [Withdrawal] {
        var trouble = troubles[digest]?[node] ?? Trouble(at: now)
        trouble.at = now
        if discarded { trouble.discardedAt = now }
        troubles[digest, default: [:]][node] = trouble
        let grace = evidence.explanationGrace
        reports.removeAll { now - $0.at > grace }
        var withdrawn: [Withdrawal] = []
        var undone = Set<Int>()
        // Newest first: each undo puts back the state its report found, which the older ones left.
        for (index, report) in reports.enumerated().reversed()
        where report.source == node && report.digest == digest && excuse(report.accuser, source: node, digest: digest, now: now) {
            undo(report)
            undone.insert(index)
            withdrawn.append(Withdrawal(accuser: names[Int(report.accuser)], source: names[Int(node)]))
        }
        reports = reports.enumerated().filter { !undone.contains($0.offset) }.map(\.element)
        return withdrawn
    }

    /// Whether the tracker lists `node` as holding the whole of `digest`.
    private func holdsWhole(_ node: Int32, digest: Digest) -> Bool {
        guard let state = books[digest]?.state, Int(node) < state.count else { return false }
        return state[Int(node)] == .complete
    }

    private func troubledRecently(_ node: Int32, digest: Digest, now: Double) -> Bool {
        guard let at = troubles[digest]?[node]?.at else { return false }
        return abs(now - at) <= evidence.explanationGrace
    }

    private func discarded(_ node: Int32, digest: Digest, now: Double) -> Bool {
        guard let at = troubles[digest]?[node]?.discardedAt else { return false }
        return now - at < evidence.window
    }

    /// Whether a report of `accuser` against `source` about `digest` may be explained away now,
    /// and records it if so: one blob's story per window, of at most ``maxExcuses`` reports (its
    /// cut transfer and its bad blob). The window runs from the story's first excuse.
    private mutating func excuse(_ accuser: Int32, source: Int32, digest: Digest, now: Double) -> Bool {
        if let last = excused[accuser]?[source], now - last.at < evidence.window {
            guard last.digest == digest, last.count < Self.maxExcuses else { return false }
            excused[accuser]?[source]?.count += 1
            return true
        }
        excused[accuser, default: [:]][source] = Excuse(at: now, digest: digest, count: 1)
        return true
    }

    /// Reports of one accuser against one source one blob's story may explain (a cut, a bad blob).
    static let maxExcuses = 2

    private func record(source: Int32, accuser: Int32) -> Record {
        Record(
            strikes: strikes[source]?[accuser], exclusion: personal[accuser]?[source], accusation: accusations[source]?[accuser],
            flag: flaggedUntil[source])
    }

    /// Puts back what `report` changed, field by field, unless something changed it again since.
    private mutating func undo(_ report: CountedReport) {
        let (source, accuser) = (report.source, report.accuser)
        let now = record(source: source, accuser: accuser)
        if now.strikes == report.after.strikes { strikes[source, default: [:]][accuser] = report.before.strikes }
        if now.exclusion == report.after.exclusion { personal[accuser, default: [:]][source] = report.before.exclusion }
        if now.accusation == report.after.accusation { accusations[source, default: [:]][accuser] = report.before.accusation }
        if now.flag == report.after.flag { flaggedUntil[source] = report.before.flag }
    }

    /// Forgets troubles and excuses older than ``EvidenceRules/window`` (with the handed sweep).
    mutating func sweepEvidence(now: Double) {
        let window = evidence.window
        for digest in Array(troubles.keys) {
            troubles[digest] = troubles[digest]?.filter { now - $0.value.at < window }
            if troubles[digest]?.isEmpty ?? false { troubles[digest] = nil }
        }
        for accuser in Array(excused.keys) {
            excused[accuser] = excused[accuser]?.filter { now - $0.value.at < window }
            if excused[accuser]?.isEmpty ?? false { excused[accuser] = nil }
        }
    }

    /// The sources in `failed`, handed to `requester` for the blob, that threw their own copy
    /// away (reported the blob `corrupt` or `overflow`) within ``EvidenceRules/explanationGrace``:
    /// what they relayed was likely wrong. A requester holding bytes from one of them should
    /// discard them rather than resume elsewhere and fail verification (it knows which sources
    /// its bytes came from; the tracker does not).
    public func suspectSources(_ requester: String, digest: Digest, have: Int64, failed: [String], now: Double) -> [String] {
        guard have > 0, let who = ids[requester], let handed = books[digest]?.handed[who] else { return [] }
        return failed.filter { name in
            guard let source = ids[name], source != 0, handed.contains(source),
                let at = troubles[digest]?[source]?.discardedAt
            else { return false }
            return now - at <= evidence.explanationGrace
        }
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
