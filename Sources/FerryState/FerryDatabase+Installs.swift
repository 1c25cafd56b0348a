import FerryCore
import FerryPolicy
import Foundation
import GRDB

/// An install target with what a node needs to act on it.
public struct TargetWork: Sendable, Hashable {
    public var target: InstallTargetRecord
    public var image: ImageRecord
}

extension FerryDatabase {
    /// Creates an install and its targets (one per node and image) in one transaction.
    /// `images` are image ids per node (each node may need its own platform's image row). A
    /// target whose image is resolved now (`fetching`, `present`) has a resolution
    /// (``InstallTargetRecord/resolved``); one whose image is `pending` waits for one. An image
    /// that failed (or was removed) since ``requestImage(_:platform:pull:)`` set it `pending` (a
    /// resolution already under way failed in between) is set `pending` again, so that the fetch
    /// the caller asks for next runs it instead of leaving the targets waiting on a failed image.
    public func createInstall(_ install: InstallRecord, targets: [(nodeID: Int64, imageIDs: [Int64])]) async throws -> InstallRecord {
        try await writer.write { db in
            var install = install
            try install.insert(db)
            let images = try ImageRecord.fetchAll(db, keys: Set(targets.flatMap(\.imageIDs)))
            let resolvedNow = Set(images.filter { [.fetching, .present].contains($0.state) }.compactMap(\.id))
            for var image in images where [.failed, .removed].contains(image.state) {
                image.askAgain(now: Date())
                try image.update(db)
            }
            for (nodeID, imageIDs) in targets {
                for (position, imageID) in imageIDs.enumerated() {
                    var target = InstallTargetRecord(
                        installId: install.id!, nodeId: nodeID, imageId: imageID, position: position, resolved: resolvedNow.contains(imageID))
                    try target.insert(db)
                }
            }
            return install
        }
    }

    public func install(id: Int64) async throws -> InstallRecord? {
        try await writer.read { db in try InstallRecord.fetchOne(db, key: id) }
    }

    public func installs() async throws -> [InstallRecord] {
        try await writer.read { db in try InstallRecord.order(InstallRecord.Columns.id.desc).fetchAll(db) }
    }

    public func runningInstalls() async throws -> [InstallRecord] {
        try await writer.read { db in try InstallRecord.filter(InstallRecord.Columns.state == InstallState.running).fetchAll(db) }
    }

    public func targets(ofInstall installID: Int64) async throws -> [InstallTargetRecord] {
        try await writer.read { db in
            try InstallTargetRecord.filter(InstallTargetRecord.Columns.installId == installID)
                .order(InstallTargetRecord.Columns.nodeId, Column("position")).fetchAll(db)
        }
    }

    /// The targets of an install with their node's name (targets of removed nodes left out).
    public func targetsByNode(ofInstall installID: Int64) async throws -> [(node: String, target: InstallTargetRecord)] {
        let names = try await nodeNames()
        return try await targets(ofInstall: installID).compactMap { target in names[target.nodeId].map { ($0, target) } }
    }

    public func target(id: Int64) async throws -> InstallTargetRecord? {
        try await writer.read { db in try InstallTargetRecord.fetchOne(db, key: id) }
    }

    /// The unfinished targets of a node whose image the leader has resolved (its blobs may still
    /// be arriving: nodes start receiving them by cut-through): its work.
    ///
    /// A target in `running` (the node already has it) stays listed while its image is resolved
    /// again for another install (`pending`, with the digests of its last resolution): dropping it
    /// for that moment would make the node stop its transfer or load and start it over. A target
    /// the node does not have yet waits for the new resolution (the tag may have moved). When that
    /// resolution fails, a target that had a resolution before goes on with the held digests
    /// (the image `failed`, its links those of the last resolution: see
    /// ``markImageFailed(imageID:error:targetError:)``).
    public func work(forNode nodeID: Int64, running: Set<Int64> = []) async throws -> [TargetWork] {
        try await writer.read { db in
            let openInstalls = try Int64.fetchAll(
                db, InstallRecord.select(InstallRecord.Columns.id).filter(InstallRecord.Columns.state == InstallState.running))
            let targets = try InstallTargetRecord
                .filter(InstallTargetRecord.Columns.nodeId == nodeID)
                .filter(TargetState.unfinished.contains(InstallTargetRecord.Columns.state))
                .filter(openInstalls.contains(InstallTargetRecord.Columns.installId))
                .order(InstallTargetRecord.Columns.installId, InstallTargetRecord.Columns.position)
                .fetchAll(db)
            let images = try ImageRecord.fetchAll(db, keys: Set(targets.map(\.imageId))).filter { $0.manifestDigest != nil }
            let byID = Dictionary(uniqueKeysWithValues: images.map { ($0.id!, $0) })
            return targets.compactMap { target in
                guard let image = byID[target.imageId] else { return nil }
                let resolved = [.fetching, .present].contains(image.state)
                let resolvingAgain = image.state == .pending && target.id.map(running.contains) == true
                let spared = image.state == .failed && target.resolved
                return resolved || resolvingAgain || spared ? TargetWork(target: target, image: image) : nil
            }
        }
    }

    /// Applies `event` to a target (only `nodeID`'s, when given) and persists the result; returns
    /// the target before and after, or nil when the target is unknown or another node's. A refused
    /// event leaves the row as it was (`after == before`).
    public func apply(
        _ event: TargetEvent, toTarget id: Int64, nodeID: Int64?, now: Date = Date()
    ) async throws -> (before: InstallTargetRecord, after: InstallTargetRecord, transition: TargetTransition)? {
        try await writer.write { db in
            guard let before = try InstallTargetRecord.fetchOne(db, key: id) else { return nil }
            if let nodeID, before.nodeId != nodeID { return nil }
            var after = before
            let transition = after.apply(event, now: now)
            if transition.changed { try after.updateChanges(db, from: before) }
            return (before, after, transition)
        }
    }

    /// A node's report on a target, applied as ``apply(_:toTarget:nodeID:)`` does; returns the
    /// updated target, or nil if it was refused (unknown target, another node's, a finished one,
    /// a move the lifecycle does not allow).
    public func updateTarget(
        id: Int64, nodeID: Int64?, to state: TargetState, bytesDone: Int64? = nil, bytesTotal: Int64? = nil,
        error: FerryError? = nil, note: String? = nil, starting: Bool = false
    ) async throws -> InstallTargetRecord? {
        let report = TargetReportFields(state: state, bytesDone: bytesDone, bytesTotal: bytesTotal, error: error, note: note, starting: starting)
        guard let result = try await apply(.reported(report), toTarget: id, nodeID: nodeID), result.transition.changed else { return nil }
        return result.after
    }

    /// The answer to a node asking for a load slot.
    public enum LoadSlot: Sendable, Hashable {
        /// The target is `loading` now.
        case granted
        /// Not yet: every slot is taken, or the target is neither `ready` nor `transferring`.
        case wait
        /// The target is finished (failed by a deadline, say): it never gets a slot.
        case over(TargetState)
        /// No such target for this node.
        case unknown
    }

    /// Grants a load slot: moves the target from `ready` (or `transferring`, for a node whose
    /// handoff overlaps the transfer) to `loading` if fewer than the install's
    /// `maxParallel` nodes are loading (or this node already is). Atomic, so slots are never
    /// overbooked; one transaction answers whatever the target's state. When every slot is taken,
    /// a target whose node lapsed fewer times in the install takes the slot of a node that lapsed
    /// more (``InstallRules/mayTakeSlot(askerLapses:holderLapses:)``): a node holds a slot after a
    /// lapse only while nobody else asks. A node that already holds a lease in the install (it
    /// loads another of its images) takes the slot under that lease: it does not start a new one.
    public func loadSlot(targetID: Int64, nodeID: Int64, now: Date = Date()) async throws -> LoadSlot {
        try await writer.write { db in
            guard var target = try InstallTargetRecord.fetchOne(db, key: targetID), target.nodeId == nodeID else { return .unknown }
            if target.state.isFinished { return .over(target.state) }
            if target.state == .loading { return .granted }
            guard target.state.mayTakeLoadSlot, let install = try InstallRecord.fetchOne(db, key: target.installId) else { return .wait }
            let loading = try Int64.fetchSet(
                db,
                InstallTargetRecord.select(InstallTargetRecord.Columns.nodeId).distinct()
                    .filter(InstallTargetRecord.Columns.installId == target.installId && InstallTargetRecord.Columns.state == TargetState.loading))
            if !InstallRules.mayLoad(node: nodeID, loadingNodes: loading, maxParallel: install.maxParallel) {
                let holders = try InstallTargetRecord
                    .filter(InstallTargetRecord.Columns.installId == target.installId && InstallTargetRecord.Columns.state == TargetState.loading)
                    .fetchAll(db)
                guard let lapsed = holders.first(where: { InstallRules.mayTakeSlot(askerLapses: target.loadLapses, holderLapses: $0.loadLapses) })
                else { return .wait }
                _ = try Self.lapse(node: lapsed.nodeId, install: target.installId, now: now, db: db)
            }
            let leased = try Self.resumeLease(try Self.leaseTargets(ofNode: nodeID, install: target.installId).fetchAll(db), now: now, db: db)
            guard let resumed = leased.first(where: { $0.id == targetID }) else { return .unknown }
            target = resumed
            let before = target
            if target.loadGrantedAt == nil { target.loadGrantedAt = leased.compactMap(\.loadGrantedAt).min() }
            guard target.apply(.loadGranted, now: now).changed else { return .wait }
            try target.updateChanges(db, from: before)
            return .granted
        }
    }

    /// ``loadSlot(targetID:nodeID:)`` as a yes or no.
    public func grantLoad(targetID: Int64, nodeID: Int64) async throws -> Bool {
        try await loadSlot(targetID: targetID, nodeID: nodeID) == .granted
    }

    /// Gives back the load slots of nodes that went away mid-load (`loading` → `ready`).
    public func releaseLoads(ofNodes nodeIDs: [Int64]) async throws -> Int {
        guard !nodeIDs.isEmpty else { return 0 }
        return try await writer.write { db in
            try Self.applyToAll(
                .loadGivenBack,
                InstallTargetRecord.filter(nodeIDs.contains(InstallTargetRecord.Columns.nodeId) && InstallTargetRecord.Columns.state == TargetState.loading),
                db: db)
        }
    }

    /// Takes back the load slots held past their lease (``TargetEvent/loadLapsed``), per node and
    /// install: a node's lease runs from the earliest grant among its targets of the install
    /// (finished ones too: ``leaseTargets(ofNode:install:)``), and when it runs out every target of
    /// the node there that loads goes back to `ready`. `lease` says how long a node may hold slots
    /// for images of the given sizes (its images in the install). The lease counts only the time the node holds a slot
    /// there, and not while the leader itself is still fetching one of the images it loads
    /// (`pending`, `fetching`: with the pull handoff a node takes its slot as its transfer starts,
    /// and its blobs arrive as fast as the upstream's). Otherwise (it holds none: it started over,
    /// or went silent) the lease is paused (`loadPausedAt`, from this housekeeping on), and its
    /// start moves forward by the pause when the node holds a slot again (here, or at its next
    /// grant). Neither column is one a long poll watches. A target that entered `loading` before
    /// its grant time was recorded (an upgrade) starts its lease at `now`. Returns the targets
    /// whose slot was taken back.
    public func lapseLoads(now: Date = Date(), lease: @Sendable ([Int64]) -> Duration) async throws -> [InstallTargetRecord] {
        try await writer.write { db in
            var lapsed: [InstallTargetRecord] = []
            let loading = try InstallTargetRecord.filter(InstallTargetRecord.Columns.state == TargetState.loading).fetchAll(db)
            for var target in loading where target.loadGrantedAt == nil {
                let before = target
                target.loadGrantedAt = now
                try target.updateChanges(db, from: before)
            }
            let holders = Set(loading.map { LoadHolder(install: $0.installId, node: $0.nodeId) })
            try Self.pauseLeases(except: holders, now: now, db: db)
            for key in holders {
                let targets = try Self.leaseTargets(ofNode: key.node, install: key.install).fetchAll(db)
                let images = try ImageRecord.fetchAll(db, keys: Set(targets.map(\.imageId)))
                let loadingImages = Set(targets.filter { $0.state == .loading }.map(\.imageId))
                if images.contains(where: { loadingImages.contains($0.id!) && [.pending, .fetching].contains($0.state) }) {
                    try Self.pause(targets, now: now, db: db)
                    continue
                }
                guard let start = try Self.resumeLease(targets, now: now, db: db).compactMap(\.loadGrantedAt).min() else { continue }
                if now.timeIntervalSince(start) > Double(lease(images.map(\.size)).components.seconds) {
                    lapsed += try Self.lapse(node: key.node, install: key.install, now: now, db: db)
                }
            }
            return lapsed
        }
    }

    /// The targets of `node` in `install`, finished ones included: what its load slot lease
    /// covers. A node that reports an image `done` (or has it fail) goes on with the time it held
    /// slots for it: a liar's false `done` does not buy its next image a new lease.
    static func leaseTargets(ofNode node: Int64, install: Int64) -> QueryInterfaceRequest<InstallTargetRecord> {
        InstallTargetRecord.filter(InstallTargetRecord.Columns.installId == install && InstallTargetRecord.Columns.nodeId == node)
    }

    /// A node in an install, as a load slot's holder.
    private struct LoadHolder: Hashable {
        var install: Int64
        var node: Int64
    }

    /// Pauses every running lease from `at` (a lease paused already keeps its pause): at a leader's
    /// start, from when the last process stopped, so that its downtime does not count.
    public func pauseLeases(at: Date) async throws {
        try await writer.write { db in try Self.pauseLeases(except: [], now: at, db: db) }
    }

    /// Pauses the running leases of nodes that hold no slot in the install (not among `holders`).
    private static func pauseLeases(except holders: Set<LoadHolder>, now: Date, db: Database) throws {
        let installs = try Int64.fetchAll(db, InstallRecord.select(InstallRecord.Columns.id).filter(InstallRecord.Columns.state == InstallState.running))
        let running = try InstallTargetRecord
            .filter(InstallTargetRecord.Columns.loadGrantedAt != nil && InstallTargetRecord.Columns.loadPausedAt == nil)
            .filter(installs.contains(InstallTargetRecord.Columns.installId))
            .fetchAll(db)
        try pause(running.filter { !holders.contains(LoadHolder(install: $0.installId, node: $0.nodeId)) }, now: now, db: db)
    }

    /// Pauses the lease `targets` (one node's in one install) run under, from `now`, unless it is paused.
    private static func pause(_ targets: [InstallTargetRecord], now: Date, db: Database) throws {
        for var target in targets where target.loadGrantedAt != nil && target.loadPausedAt == nil {
            let before = target
            target.loadPausedAt = now
            try target.updateChanges(db, from: before)
        }
    }

    /// Ends the pause of the lease `targets` (one node's ``leaseTargets(ofNode:install:)``) run
    /// under, if it was paused: the lease's start moves forward by the pause, so that the lease
    /// counts only the time a slot was held. Returns the targets as they are now.
    static func resumeLease(_ targets: [InstallTargetRecord], now: Date, db: Database) throws -> [InstallTargetRecord] {
        guard let pausedAt = targets.compactMap(\.loadPausedAt).min() else { return targets }
        let pause = max(0, now.timeIntervalSince(pausedAt))
        return try targets.map { target in
            guard target.loadPausedAt != nil || target.loadGrantedAt != nil else { return target }
            var resumed = target
            resumed.loadGrantedAt = target.loadGrantedAt?.addingTimeInterval(pause)
            resumed.loadPausedAt = nil
            try resumed.updateChanges(db, from: target)
            return resumed
        }
    }

    /// Takes back every load slot `node` holds in `install` and ends its lease there; returns the
    /// targets that were loading.
    static func lapse(node: Int64, install: Int64, now: Date, db: Database) throws -> [InstallTargetRecord] {
        var lapsed: [InstallTargetRecord] = []
        for var target in try leaseTargets(ofNode: node, install: install).fetchAll(db) {
            let before = target
            if target.state.isFinished {
                // Its time counted in the lease that ended.
                target.loadGrantedAt = nil
                target.loadPausedAt = nil
                try target.updateChanges(db, from: before)
                continue
            }
            guard target.apply(.loadLapsed, now: now).changed else { continue }
            try target.updateChanges(db, from: before)
            if before.state == .loading { lapsed.append(target) }
        }
        return lapsed
    }

    /// Fails the unfinished targets of installs past their deadline; a target whose image the
    /// leader did not hold whole yet says how much of it the leader held.
    public func expireInstalls(now: Date = Date()) async throws -> Int {
        try await writer.write { db in
            let expired = try Int64.fetchAll(
                db,
                InstallRecord.select(InstallRecord.Columns.id)
                    .filter(InstallRecord.Columns.state == InstallState.running && InstallRecord.Columns.deadlineAt <= now))
            guard !expired.isEmpty else { return 0 }
            let targets = InstallTargetRecord.filter(expired.contains(InstallTargetRecord.Columns.installId))
            var moved = 0
            for imageID in Set(try Int64.fetchAll(db, targets.select(InstallTargetRecord.Columns.imageId))) {
                let held = try Self.leaderHolding(ofImage: imageID, db: db)
                moved += try Self.applyToAll(
                    .deadlinePassed(leaderHeld: held?.bytes, imageSize: held?.size ?? 0), targets.filter(InstallTargetRecord.Columns.imageId == imageID),
                    db: db)
            }
            return moved
        }
    }

    /// How much of an image the leader holds, when it does not hold it whole (nil then, or
    /// before the image is resolved). Partial blobs count as last recorded.
    static func leaderHolding(ofImage id: Int64, db: Database) throws -> (bytes: Int64, size: Int64)? {
        guard let image = try ImageRecord.fetchOne(db, key: id), image.state != .present, image.size > 0 else { return nil }
        let held = try Int64.fetchOne(
            db,
            sql: "SELECT COALESCE(SUM(blobs.bytes_done), 0) FROM image_blobs JOIN blobs ON blobs.digest = image_blobs.digest WHERE image_blobs.image_id = ?",
            arguments: [id]) ?? 0
        // All of it held (a held image asked for again, its tag re-resolving): not the reason.
        guard held < image.size else { return nil }
        return (held, image.size)
    }

    /// Closes every running install whose targets are all finished; returns the ones closed.
    public func finishInstalls() async throws -> [InstallRecord] {
        try await writer.write { db in
            var finished: [InstallRecord] = []
            for var install in try InstallRecord.filter(InstallRecord.Columns.state == InstallState.running).fetchAll(db) {
                let states = try TargetState.fetchAll(
                    db, InstallTargetRecord.select(InstallTargetRecord.Columns.state).filter(InstallTargetRecord.Columns.installId == install.id!))
                guard let outcome = InstallRules.outcome(of: states) else { continue }
                install.state = outcome.failed ? .failed : .done
                install.finishedAt = Date()
                try install.update(db)
                finished.append(install)
            }
            return finished
        }
    }

    /// `request` narrowed to the targets of running installs.
    static func ofRunningInstalls(_ request: QueryInterfaceRequest<InstallTargetRecord>, db: Database) throws -> QueryInterfaceRequest<InstallTargetRecord> {
        let running = try Int64.fetchAll(db, InstallRecord.select(InstallRecord.Columns.id).filter(InstallRecord.Columns.state == InstallState.running))
        return request.filter(running.contains(InstallTargetRecord.Columns.installId))
    }

    /// Applies `event` to every target `request` selects; returns how many changed state.
    static func applyToAll(_ event: TargetEvent, _ request: QueryInterfaceRequest<InstallTargetRecord>, db: Database) throws -> Int {
        let now = Date()
        var moved = 0
        for var target in try request.fetchAll(db) {
            let before = target
            let transition = target.apply(event, now: now)
            guard transition.changed else { continue }
            try target.updateChanges(db, from: before)
            if case .moved = transition { moved += 1 }
        }
        return moved
    }
}
