import FerryConcurrency
import FerryCore
import FerryDiagnostics
import FerryMesh
import FerryPolicy
import FerryState
import Foundation
import Logging
import Synchronization

/// The leader's side of installs: creates them, hands nodes their work, records what nodes
/// report, grants load slots, and gives up on nodes past an install's deadline.
///
/// All state is in SQLite (installs and targets are rows; every transition is one
/// transaction), so a restarted leader carries on where it stopped. Long polls wait on
/// ``FerryDatabase/changes``, which the database notifies as it commits a change to what a
/// node's work depends on (see `WorkChangeObserver`): no transition here notifies by hand, so
/// none can forget to, and a node learns of its work the moment the fetch worker records the
/// image's resolution.
struct InstallCoordinator: Sendable {
    let database: FerryDatabase
    let logger: Logger
    /// Asks the fetch worker to fetch an image.
    let fetch: @Sendable (Int64) -> Void
    /// How long a node may hold a load slot without finishing (``LeaderConfiguration/loadSlotLease``).
    var loadSlotLease: Duration = LeaderConfiguration.defaultLoadSlotLease
    /// The work long polls each node has waiting (shared by the copies of this coordinator).
    let longPolls = NodeLongPolls()
    /// The manifest digest each node was last told for each of its targets (shared likewise).
    let handedOut = HandedOutDigests()

    var signal: ChangeSignal { database.changes }

    func createInstall(_ request: InstallRequest) async throws -> InstallRecord {
        guard !request.images.isEmpty else { throw FerryError(.invalidArgument, "no images given") }
        var references: [ImageReference] = []
        for text in request.images {
            // An image named twice (however spelled) is installed once.
            let reference = try ImageReference(parsing: text)
            if !references.contains(reference) { references.append(reference) }
        }
        let platform = try request.platform.map { text throws(FerryError) in try Platform(parsing: text) }
        let maxParallel = request.maxParallel ?? InstallRequest.defaultMaxParallel
        guard maxParallel >= 1 else { throw FerryError(.invalidArgument, "max parallel must be at least 1") }
        if let deadline = request.deadlineSeconds, deadline <= 0 {
            throw FerryError(.invalidArgument, "the deadline must be positive")
        }
        try Self.refuseEmptyNodeList(request.nodes)
        let known = try await database.nodes()
        guard !known.isEmpty else {
            throw FerryError(.nodeUnknown, "no node has joined yet: start `ferry follower --leader … --join-token-file …` on the nodes first")
        }
        var chosen: [NodeRecord] = known
        let names = (request.nodes ?? []).filter { $0 != "all" }
        if !names.isEmpty {
            try Self.refuseUnknownNodes(names, known: known.map(\.name))
            chosen = known.filter { names.contains($0.name) }
        }
        // One image row per reference and platform: nodes of one platform share it.
        var imageIDs: [String: [Int64]] = [:]
        var targets: [(nodeID: Int64, imageIDs: [Int64])] = []
        for node in chosen {
            let nodePlatform = try platform ?? Platform(parsing: node.platform)
            if imageIDs[nodePlatform.description] == nil {
                var ids: [Int64] = []
                for reference in references {
                    let image = try await database.requestImage(reference, platform: nodePlatform, pull: request.pull ?? .default)
                    if !ids.contains(image.id!) { ids.append(image.id!) }
                }
                imageIDs[nodePlatform.description] = ids
            }
            targets.append((node.id!, imageIDs[nodePlatform.description]!))
        }
        let install: InstallRecord
        do {
            install = try await database.createInstall(
                InstallRecord(
                    maxParallel: maxParallel, platform: platform?.description,
                    deadlineAt: request.deadlineSeconds.map { Date().addingTimeInterval(TimeInterval($0)) }),
                targets: targets)
        } catch {
            // The images were asked for (`pending`): fetched all the same, never left waiting.
            for id in Set(imageIDs.values.flatMap { $0 }) { fetch(id) }
            throw error
        }
        for id in Set(imageIDs.values.flatMap { $0 }) { fetch(id) }
        logger.notice(
            "install created",
            metadata: ["install": "\(install.id!)", "images": "\(request.images.count)", "nodes": "\(chosen.count)", "max_parallel": "\(maxParallel)"])
        return install
    }

    /// A node's unfinished targets whose image the leader has resolved, and its rollout work
    /// (`switches`, read at each change). While they are exactly `known` and `knownSwitches`
    /// (what the node already has; none at first), waits up to `wait` for a change: a new target,
    /// one over (finished, failed by a deadline), which the node then stops, or other rollout work.
    func work(
        node: Int64, wait: Duration, known: Set<Int64> = [], knownSwitches: Set<String> = [],
        switches: @Sendable () -> [SwitchWorkItem] = { [] }
    ) async throws -> WorkResponse {
        // A follower waits on one work poll at a time; a node holding many (a liar: 2,000 of them
        // slowed every install, each woken at every change) gets 429 past a few.
        if wait > .zero {
            guard longPolls.enter(node) else {
                throw FerryError(
                    .tooManyRequests, "this node already has \(NodeLongPolls.limit) work requests waiting; a follower needs one: retry once they have answered")
            }
        }
        defer { if wait > .zero { longPolls.leave(node) } }
        try await database.heartbeat(nodeID: node)
        // Nil: this node has not been answered since the leader started, and may run targets
        // with digests the leader never told it (a tag that moved while the leader was down).
        let told = handedOut.digests(of: node)
        let (items, switchItems) = try await signal.poll(for: wait) {
            (try await database.work(forNode: node, running: known), switches())
        } until: { items, switchItems in
            // A target whose image was resolved again to another digest (its tag moved) is news
            // too: the node starts it over with that digest. A node running targets is answered
            // at once the first time, so that it learns of such a move without waiting out its poll.
            Set(items.compactMap(\.target.id)) != known || Set(switchItems.map(\.key)) != knownSwitches
                || (told == nil && !known.isEmpty)
                || items.contains { work in work.target.id.flatMap { told?[$0] }.map { $0 != work.image.manifestDigest } == true }
        }
        handedOut.record(items.compactMap { work in work.image.manifestDigest.map { (work.target.id!, $0) } }, for: node)
        return WorkResponse(items: items.compactMap { work in
            guard let manifest = work.image.manifestDigest else { return nil }
            return WorkItem(
                targetID: work.target.id!, installID: work.target.installId, reference: work.image.reference,
                registry: work.image.registry, repository: work.image.repository, manifestDigest: manifest,
                size: work.image.size, state: work.target.state, topDigest: work.image.topDigest)
        }, switches: switchItems.isEmpty ? nil : switchItems)
    }

    func report(node: Int64, target: Int64, _ report: TargetReport) async throws {
        try report.validate()
        // At most the total, when the total is known.
        var bytesDone = report.bytesDone
        if let done = bytesDone, let total = report.bytesTotal, total > 0 { bytesDone = min(done, total) }
        let fields = TargetReportFields(
            state: report.state, bytesDone: bytesDone, bytesTotal: report.bytesTotal, error: report.error?.ferryError,
            note: report.note, starting: report.starting ?? false)
        guard let result = try await database.apply(.reported(fields), toTarget: target, nodeID: node) else {
            throw FerryError(.notFound, "no target \(target) for this node")
        }
        switch result.transition {
        case .refused:
            throw FerryError(.conflict, "target \(target) cannot move from \(result.before.state.rawValue) to \(report.state.rawValue)")
        case .updated:
            break
        case .moved(let from, let to):
            logger.info(
                "target moved",
                metadata: ["target": "\(target)", "node": "\(node)", "from": "\(from.rawValue)", "to": "\(to.rawValue)",
                           "error": "\(result.after.errorMessage ?? "")"])
            if to.isFinished { try await closeFinishedInstalls() }
        }
    }

    /// Grants a load slot when one is free, waiting up to `wait` for one.
    func requestLoad(node: Int64, target: Int64, wait: Duration) async throws -> LoadPermit {
        let slot = try await signal.poll(for: wait) {
            try await database.loadSlot(targetID: target, nodeID: node)
        } until: { slot in
            switch slot {
            case .granted: true
            // A target that is over (failed by a deadline, say) never gets a slot: tell the node to stop.
            case .over(let state): throw FerryError(.conflict, "target \(target) is \(state.rawValue): it gets no load slot")
            case .unknown: throw FerryError(.notFound, "no target \(target) for this node")
            case .wait: false
            }
        }
        return LoadPermit(granted: slot == .granted)
    }

    /// Records that an image's fetch failed for good: the image, and its targets with its reason
    /// (those that had a resolution before go on when only a new resolution of the tag failed,
    /// ``FerryDatabase/markImageFailed(imageID:error:targetError:)``). Throws when the database
    /// cannot write; nothing is recorded then.
    func imageFailed(_ imageID: Int64, failure: FerryError) async throws {
        // Said as the leader's: shown per node, "not enough disk space in …/store" read as the node's.
        let outcome = try await database.markImageFailed(imageID: imageID, error: failure, targetError: Self.leadersFetchFailed(failure))
        if outcome.spared > 0 {
            logger.notice(
                "the image's installs under way go on with the digest the leader holds; only the new ones fail",
                metadata: ["image": "\(imageID)", "going_on": "\(outcome.spared)", "failed": "\(outcome.failed)", "reason": "\(failure.message)"])
        }
        _ = try? await closeFinishedInstalls()
    }

    /// Closes the installs whose targets are all finished; true if any was.
    @discardableResult
    func closeFinishedInstalls() async throws -> Bool {
        let finished = try await database.finishInstalls()
        for install in finished {
            let seconds = (install.finishedAt ?? Date()).timeIntervalSince(install.createdAt)
            FerryMetrics.recordInstall(.milliseconds(Int64(seconds * 1000)))
            logger.notice(
                "install finished", metadata: ["install": "\(install.id!)", "state": "\(install.state.rawValue)", "seconds": "\(seconds)"])
        }
        return !finished.isEmpty
    }

    /// At the leader's start, before it serves a request: the load slot leases that ran when the
    /// last process stopped are paused from then (the last heartbeat it recorded; nothing a node
    /// sends sets that time), so that the leader's own downtime is not counted as time a node
    /// held a slot. A failure is logged: leases then count the downtime.
    func pauseLeasesAtStart(now: Date = Date()) async {
        do {
            let nodes = try await database.nodes()
            try await database.pauseLeases(at: min(now, nodes.map(\.lastSeen).max() ?? now))
        } catch {
            logger.warning("cannot pause the load slot leases at start", metadata: ["error": "\(FerryError(database: error)?.message ?? "\(error)")"])
        }
    }

    /// Periodic housekeeping: deadlines, load slots of nodes that went away or held them past
    /// their lease, finished installs.
    func tick(now: Date = Date()) async {
        do {
            _ = try await database.expireInstalls(now: now)
            let nodes = try await database.nodes()
            let silent = nodes.filter { !InstallRules.isReachable(lastSeen: $0.lastSeen, now: now, heartbeat: MeshAPI.heartbeatInterval) }
            if try await database.releaseLoads(ofNodes: silent.compactMap(\.id)) > 0 {
                logger.warning("gave back load slots of unreachable nodes", metadata: ["nodes": "\(silent.map(\.name))"])
            }
            let lease = loadSlotLease
            for target in try await database.lapseLoads(now: now, lease: { InstallRules.loadLease(imageSizes: $0, minimum: lease) }) {
                let name = nodes.first { $0.id == target.nodeId }?.name ?? "\(target.nodeId)"
                logger.warning(
                    "took back the load slots a node held past its lease without finishing; it gives up any slot it takes again to the next node that asks",
                    metadata: ["node": "\(name)", "install": "\(target.installId)", "target": "\(target.id!)", "lapses": "\(target.loadLapses)"])
            }
            try await closeFinishedInstalls()
        } catch is CancellationError {
            // Shutting down: the next start does the housekeeping.
        } catch {
            // Every 2 s while it lasts (a full disk): once per 30 s, with how often it recurred.
            let message = FerryError(database: error)?.message ?? "\(error)"
            if let recurred = Self.housekeepingFailures.admit(String(message.prefix(80))) {
                logger.warning("install housekeeping failed", metadata: ["error": "\(message)", "recurred": "\(recurred)"])
            }
        }
    }

    static let housekeepingFailures = LogThrottle()

    /// An image's fetch failure as its targets carry it: the leader's, not the node's.
    static func leadersFetchFailed(_ failure: FerryError) -> FerryError {
        FerryError(failure.code, "the leader could not fetch the image: \(failure.message)")
    }

    /// Refuses `names` that are not among the `known` node names, naming them and the known ones.
    static func refuseUnknownNodes(_ names: [String], known: [String]) throws(FerryError) {
        let unknown = names.filter { !known.contains($0) }
        guard unknown.isEmpty else {
            throw FerryError(
                .nodeUnknown,
                "unknown node\(unknown.count > 1 ? "s" : "") \(unknown.map { "'\($0)'" }.joined(separator: ", ")); known nodes: \(known.joined(separator: ", "))")
        }
    }

    /// An install's or a rollout's node list: nil is every node; an empty list is refused
    /// rather than taken as none or all.
    static func refuseEmptyNodeList(_ nodes: [String]?) throws(FerryError) {
        if let nodes, nodes.isEmpty {
            throw FerryError(.invalidArgument, "the node list is empty: leave it out (or null) for every node, or name the nodes")
        }
    }
}

/// The manifest digest each node was last told for each of its targets, so that a long poll
/// answers when a target's digest changes (in memory: after a restart, the first answer to each
/// node sets it again, and a node running targets gets that answer at once).
final class HandedOutDigests: Sendable {
    private let told = Mutex<[Int64: [Int64: Digest]]>([:])

    /// What `node` was last told; nil when it has not been answered since the leader started.
    func digests(of node: Int64) -> [Int64: Digest]? { told.withLock { $0[node] } }

    /// `node` was answered with these targets and digests (only these: finished ones are dropped).
    func record(_ targets: [(Int64, Digest)], for node: Int64) {
        told.withLock { $0[node] = Dictionary(targets, uniquingKeysWith: { _, last in last }) }
    }
}

/// How many work long polls each node has waiting on the leader.
final class NodeLongPolls: Sendable {
    /// At most this many per node: a follower has one, and each time it is restarted it may leave
    /// one behind until that one's wait ends (the server does not see a client leave).
    static let limit = 8
    private let waiting = Mutex<[Int64: Int]>([:])

    /// Counts a poll of `node` in; false when it has ``limit`` waiting already.
    func enter(_ node: Int64) -> Bool {
        waiting.withLock { waiting in
            guard waiting[node, default: 0] < Self.limit else { return false }
            waiting[node, default: 0] += 1
            return true
        }
    }

    func leave(_ node: Int64) {
        waiting.withLock { waiting in
            waiting[node, default: 1] -= 1
            if waiting[node] == 0 { waiting[node] = nil }
        }
    }

    func count(_ node: Int64) -> Int { waiting.withLock { $0[node, default: 0] } }
}
