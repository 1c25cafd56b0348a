import FerryConcurrency
import FerryCore
import FerryMesh
import FerryPolicy
import FerryServer
import FerryState
import FerryStore
import Foundation
import Logging

/// The leader's side of the admin API (``AdminAPI``): fetches, images, installs, nodes and
/// garbage collection, as the operator's CLI sees them.
struct LeaderAdmin: AdminBackend {
    let database: FerryDatabase
    let fetches: FetchWorker
    let installs: InstallCoordinator
    let rollouts: RolloutCoordinator
    let progress: ProgressBoard
    let tracker: Tracker
    let garbageCollector: GarbageCollector
    /// The platform fetched when a request names none.
    let platform: Platform
    let credentials: LeaderCredentials
    /// The cluster CA's fingerprint, the last part of every join token.
    let caFingerprint: String
    /// When the cluster CA expires (``NodeList/caExpiresAt``).
    let caExpiresAt: Date
    let logger: Logger

    func collectGarbage(_ request: GarbageCollectionRequest) async throws -> GarbageCollectionReport {
        try await garbageCollector.collect(request)
    }

    func createRollout(_ request: RolloutRequest) async throws -> RolloutStatus { try await rollouts.create(request) }
    func rollouts() async throws -> RolloutList { try await rollouts.rollouts() }
    func rollout(id: String) async throws -> RolloutStatus? { try await rollouts.rollout(id: id) }
    func controlRollout(id: String, _ control: RolloutControl) async throws -> RolloutStatus { try await rollouts.control(id, control) }

    func fetch(_ request: FetchRequest) async throws -> FetchResponse {
        guard !request.images.isEmpty else { throw FerryError(.invalidArgument, "no images given") }
        let platform = try request.platform.map { text throws(FerryError) in try Platform(parsing: text) } ?? platform
        // Parse everything first: a bad reference rejects the request before anything is queued.
        var references: [ImageReference] = []
        for text in request.images { references.append(try ImageReference(parsing: text)) }
        var statuses: [ImageStatus] = []
        for reference in references {
            let record = try await database.requestImage(reference, platform: platform, pull: request.pull ?? .default)
            fetches.enqueue(record.id!)
            statuses.append(try await status(of: record, withBlobs: false))
        }
        return FetchResponse(images: statuses)
    }

    func images() async throws -> ImageList {
        var statuses: [ImageStatus] = []
        for record in try await database.images() {
            statuses.append(try await status(of: record, withBlobs: false))
        }
        return ImageList(images: statuses)
    }

    func image(id: Int64) async throws -> ImageStatus? {
        guard let record = try await database.image(id: id) else { return nil }
        return try await status(of: record, withBlobs: true)
    }

    func status(of record: ImageRecord, withBlobs: Bool) async throws -> ImageStatus {
        let blobs = try await database.blobs(ofImage: record.id!)
        let blobStatuses = blobs.map { blob in
            let done: Int64 =
                switch blob.state {
                case .present: blob.size
                case .fetching: progress.value(blob.digest) ?? blob.bytesDone
                default: progress.value(blob.digest) ?? 0
                }
            return BlobStatus(
                digest: blob.digest.description, mediaType: blob.mediaType, size: blob.size, bytesDone: done,
                state: blob.state,
                error: blob.errorCode.map { ErrorEntry(code: $0, message: blob.errorMessage ?? $0) })
        }
        return ImageStatus(
            id: record.id!, reference: record.reference, platform: record.platform, resolvedPlatform: record.resolvedPlatform,
            state: record.state, digest: record.topDigest?.description, manifestDigest: record.manifestDigest?.description,
            size: record.size, bytesDone: blobStatuses.reduce(0) { $0 + $1.bytesDone },
            error: record.errorCode.map { ErrorEntry(code: $0, message: record.errorMessage ?? $0) },
            requestedAt: record.requestedAt, fetchedAt: record.fetchedAt,
            blobs: withBlobs ? blobStatuses : nil, warning: record.warning)
    }


    func install(_ request: InstallRequest) async throws -> InstallStatus {
        let install = try await installs.createInstall(request)
        return try await status(of: install)
    }

    func installs() async throws -> InstallList {
        var list: [InstallStatus] = []
        for install in try await database.installs() { list.append(try await status(of: install)) }
        return InstallList(installs: list)
    }

    func install(id: Int64) async throws -> InstallStatus? {
        guard let install = try await database.install(id: id) else { return nil }
        return try await status(of: install)
    }

    func install(id: Int64, changedFrom known: String, wait: Duration) async throws -> InstallStatus? {
        try await database.changes.poll(for: wait) {
            try await install(id: id)
        } until: { status in
            status?.stateKey != known
        }
    }

    func nodes() async throws -> NodeList {
        let held = try await database.heldImages()
        let flagged = await tracker.flagged
        let now = Date()
        return NodeList(nodes: try await database.nodes().map { node in
            NodeStatus(
                name: node.name, address: node.address, platform: node.platform, lastSeen: node.lastSeen,
                state: InstallRules.isReachable(lastSeen: node.lastSeen, now: now, heartbeat: MeshAPI.heartbeatInterval) ? .reachable : .unreachable,
                dockerVersion: node.dockerVersion, dockerError: node.dockerError, images: held[node.id!] ?? [],
                corruptTransfers: flagged[node.name] ?? 0, certificateExpiresAt: node.certificateExpiresAt)
        }, caExpiresAt: caExpiresAt)
    }

    /// A target's note; for an unfinished target whose node is not heard from, that (its
    /// progress is as the node last reported it).
    static func note(of target: InstallTargetRecord, node: String, silentSince lastSeen: Date?, now: Date) -> String? {
        guard !target.state.isFinished, let lastSeen else { return target.note }
        return unreachable(lastSeen: lastSeen, now: now)
            + "it goes on when the node is back; `ferry nodes remove --force \(node)` ends it (so does the install's --deadline, if it has one)"
    }

    /// A target's error as shown: its own, or, for a target waiting on an image the leader could
    /// not fetch, the image's reason (not for one that goes on with the held digests: the failed
    /// resolution was another install's).
    static func error(of target: InstallTargetRecord, image: ImageRecord?) -> ErrorEntry? {
        if let code = target.errorCode { return ErrorEntry(code: code, message: target.errorMessage ?? code) }
        guard target.state == .waiting, !target.resolved, let image, image.state == .failed, let code = image.errorCode else { return nil }
        return ErrorEntry(InstallCoordinator.leadersFetchFailed(FerryError(FerryError.Code(rawValue: code), image.errorMessage ?? code)))
    }

    /// How a node not heard from is shown, before what happens next (installs and rollouts).
    static func unreachable(lastSeen: Date, now: Date) -> String {
        "node unreachable (last heard \(max(Int(now.timeIntervalSince(lastSeen)), 0))s ago): "
    }

    func status(of install: InstallRecord) async throws -> InstallStatus {
        let targets = try await database.targets(ofInstall: install.id!)
        let nodes = try await database.nodeNames()
        // Nodes not heard from: their unfinished targets say so instead of showing stale progress.
        let now = Date()
        var silentSince: [Int64: Date] = [:]
        if targets.contains(where: { !$0.state.isFinished }) {
            for node in try await database.nodes()
            where !InstallRules.isReachable(lastSeen: node.lastSeen, now: now, heartbeat: MeshAPI.heartbeatInterval) {
                silentSince[node.id!] = node.lastSeen
            }
        }
        var images: [Int64: ImageRecord] = [:]
        for id in Set(targets.map(\.imageId)) { images[id] = try await database.image(id: id) }
        var references: [String] = []
        for target in targets.sorted(by: { $0.position < $1.position }) {
            let reference = images[target.imageId]?.reference ?? "?"
            if !references.contains(reference) { references.append(reference) }
        }
        return InstallStatus(
            id: install.id!, state: install.state, images: references,
            nodes: Array(Set(targets.compactMap { nodes[$0.nodeId] })).sorted(),
            maxParallel: install.maxParallel, createdAt: install.createdAt, finishedAt: install.finishedAt,
            deadlineAt: install.deadlineAt,
            targets: targets.map { target in
                let image = images[target.imageId]
                return TargetStatus(
                    id: target.id!, node: nodes[target.nodeId] ?? "?", image: image?.reference ?? "?", state: target.state,
                    bytesDone: target.bytesDone, bytesTotal: target.bytesTotal == 0 ? (image?.size ?? 0) : target.bytesTotal,
                    attempts: target.attempts, error: Self.error(of: target, image: image), note: Self.note(of: target, node: nodes[target.nodeId] ?? "NAME", silentSince: silentSince[target.nodeId], now: now),
                    startedAt: target.startedAt, finishedAt: target.finishedAt)
            },
            warnings: try await warnings(of: install, images: Array(images.keys)))
    }

    /// The install's recorded warnings; while it runs, also the leader's full disk, which stops
    /// every fetch, and an upstream that has gone silent on a blob of the install's images
    /// (`images`), which holds its nodes (the log alone said either, the second only after a
    /// minute).
    private func warnings(of install: InstallRecord, images: [Int64]) async throws -> [String]? {
        let store = fetches.store
        let running = install.state == .running
        let stalled = running ? progress.stalled(for: Self.upstreamSilence) : [:]
        var needed: Set<Digest> = []
        if !stalled.isEmpty {
            for image in images { needed.formUnion(try await database.blobs(ofImage: image).map(\.digest)) }
        }
        return Self.warnings(recorded: install.warnings, running: running) {
            [
                Self.diskWarning(free: store.freeSpace(), reserve: store.configuration.reservedSpace, directory: store.root),
                Self.upstreamWarning(stalled: stalled, needed: needed),
            ].compactMap { $0 }
        }
    }

    /// The recorded warnings (one per line), and `live`'s while the install runs; nil when none.
    static func warnings(recorded: String?, running: Bool, live: () -> [String]) -> [String]? {
        var warnings = recorded.map { $0.split(separator: "\n").map(String.init) } ?? []
        if running { warnings += live() }
        return warnings.isEmpty ? nil : warnings
    }

    /// How long an upstream download may go without a byte before `ferry status` says so: two
    /// nodes' stall timeouts (they stall with it), well before the leader's 60 s read timeout.
    static let upstreamSilence: Duration = .seconds(10)

    /// What the operator is told while upstream downloads of blobs an install needs (`needed`)
    /// have stalled (`stalled`: blob → how long); nil when none of them has (another install's
    /// stalled blob is not this one's). Worded the same whatever the figures, so that
    /// `ferry install` prints it once.
    static func upstreamWarning(stalled: [Digest: Duration], needed: Set<Digest>) -> String? {
        guard stalled.keys.contains(where: needed.contains) else { return nil }
        return "the leader has received no byte from the upstream registry for 10 s or more of a blob it is fetching; the nodes that need it wait with it: check the leader's link to the registry (the leader resumes where it stopped)"
    }

    /// What to say when the leader's store has less than its reserve free (at least 16 MiB, what
    /// SQLite and the logs need): nil while there is room. Worded the same whatever the figure,
    /// so that `ferry install` prints it once.
    static func diskWarning(free: Int64?, reserve: Int64, directory: String) -> String? {
        let floor = max(reserve, 16 * 1024 * 1024)
        guard let free, free < floor else { return nil }
        return "the leader's disk is full: less than \(ByteSize.format(floor)) is free in \(directory), so it fetches nothing more until space is freed there (`ferry gc`, or remove other files); what it already holds still reaches the nodes"
    }
}
