import FerryCore
import FerryDiagnostics
import FerryDocker
import FerryMesh
import FerryStore
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// A follower's heartbeat: every ``MeshAPI/heartbeatInterval`` it tells the leader the engine's
/// version (or why the engine cannot be reached, as last probed: ``EngineProbe``; a slow engine
/// never delays a heartbeat) and the address peers reach the node at, takes
/// the leader's list of revoked certificates, sends the blob inventory when the leader asks,
/// hands the blobs the leader asks it to re-verify to ``BlobRecheck``, and renews the node's
/// certificate when it is due.
struct FollowerHeartbeat: Sendable {
    let mesh: MeshClient
    let docker: DockerClient
    let store: BlobStore
    let revocations: CertificateRevocations
    /// The node's TLS certificate, renewed in place (nil on a plain-HTTP mesh).
    let certificate: NodeCertificate?
    let leaderURL: String
    let protocolVersion: Int
    /// The address to announce (nil until known).
    let address: @Sendable () -> String?
    /// Whether the node's address is known yet (it listens, or `--advertise` gave it).
    let addressKnown: @Sendable () -> Bool
    /// Takes the blobs the leader asks this node to re-verify (``BlobRecheck/ask(_:)``).
    let recheck: @Sendable ([Digest]) -> Void
    let logger: Logger

    /// Heartbeats until cancelled; throws the leader's refusal when it no longer accepts this
    /// node's mesh protocol version (the follower then stops with that one line).
    func run() async throws {
        // The first heartbeat carries the address peers reach this node at: wait until it listens.
        for _ in 0..<200 where !addressKnown() {
            try? await Task.sleep(for: .milliseconds(25))
        }
        let (refusals, refused) = AsyncStream<FerryError>.makeStream()
        let probe = EngineProbe(patience: Self.enginePatience)
        enum Child { case probe, heartbeat, refusals }
        try await withThrowingTaskGroup(of: Child.self) { group in
            // The engine is probed on its own schedule; the heartbeat never waits on it.
            group.addTask {
                await PeriodicTask(every: MeshAPI.heartbeatInterval, runsAtStart: true) {
                    probe.began(at: .now)
                    probe.ended(await engineState())
                }.run()
                return .probe
            }
            group.addTask {
                // The first heartbeat carries the engine's first answer, if it comes in time.
                let start = ContinuousClock.now
                while probe.state(at: .now) == nil, ContinuousClock.now - start < probe.patience, !Task.isCancelled,
                    !Task.isShuttingDownGracefully
                {
                    try? await Task.sleep(for: .milliseconds(20))
                }
                let lastError = Mutex<String?>(nil)
                // What the engine said last: nil before the first heartbeat, then its version or why it cannot be reached.
                let lastEngine = Mutex<EngineProbe.State?>(nil)
                await PeriodicTask(every: MeshAPI.heartbeatInterval, runsAtStart: true) {
                    let engine = probe.state(at: .now)
                    if let engine {
                        logEngineChange(from: lastEngine.withLock { $0 }, to: engine)
                        lastEngine.withLock { $0 = engine }
                    }
                    do {
                        try await beat(engine: engine)
                        lastError.withLock { $0 = nil }
                    } catch let error as FerryError where error.code == .protocolVersion {
                        refused.yield(FerryError(.protocolVersion, "the leader at \(leaderURL) refused this node: \(error.message)"))
                    } catch {
                        // A heartbeat cut short by the follower's own stop is no failure to report.
                        if Task.isCancelled || error is CancellationError { return }
                        let message = (error as? FerryError)?.message ?? "\(error)"
                        if lastError.withLock({ $0 }) != message { logger.warning("heartbeat failed", metadata: ["error": "\(message)"]) }
                        lastError.withLock { $0 = message }
                    }
                }.run()
                return .heartbeat
            }
            group.addTask {
                for await refusal in refusals { throw refusal }
                return .refusals
            }
            // The heartbeats end on cancellation or shutdown (the last one in flight finishes);
            // a refusal ends them with an error.
            while let child = try await group.next(), child != .heartbeat {}
            group.cancelAll()
        }
    }

    /// How long an engine probe may wait before the engine is shown not answering: two
    /// heartbeats, so that an engine slow for a moment under load is not reported.
    static let enginePatience: Duration = MeshAPI.heartbeatInterval * 2

    private func engineState() async -> EngineProbe.State {
        do {
            return .answers(version: try await docker.ping().serverVersion)
        } catch {
            return .unreachable((error as? FerryError)?.message ?? "\(error)")
        }
    }

    /// The follower's own log says when the engine cannot be reached (at the first heartbeat, or
    /// once it stops answering) and when it answers again, not only the leader's `ferry nodes`.
    private func logEngineChange(from old: EngineProbe.State?, to new: EngineProbe.State) {
        switch (old, new) {
        case (nil, .answers(let version)):
            logger.info("Docker engine answers", metadata: ["docker.version": "\(version)"])
        case (.unreachable, .answers(let version)):
            logger.notice("Docker engine answers again", metadata: ["docker.version": "\(version)"])
        case (nil, .unreachable(let message)), (.answers?, .unreachable(let message)):
            logger.warning(
                "cannot reach the Docker engine: this node cannot load images until it answers; check --docker-host",
                metadata: ["error": "\(message)"])
        case (.unreachable(let before)?, .unreachable(let now)) where before != now:
            logger.warning("still cannot reach the Docker engine", metadata: ["error": "\(now)"])
        default:
            break
        }
    }

    /// One heartbeat and what its answer asks for; `engine` nil: the engine has not answered yet.
    private func beat(engine: EngineProbe.State?) async throws {
        var heartbeat = Heartbeat(
            dockerVersion: nil, dockerError: nil, address: address(), protocolVersion: protocolVersion, certificateSerial: certificate?.serial)
        switch engine {
        case .answers(let version): heartbeat.dockerVersion = version
        case .unreachable(let message): heartbeat.dockerError = message
        case nil: break
        }
        let answer = try await mesh.heartbeat(heartbeat)
        if let blobs = answer.recheckBlobs { recheck(blobs) }
        if let revoked = answer.revokedCertificates { revocations.update(revoked) }
        if answer.sendInventory { try await sendInventory() }
        await renewCertificateIfDue(leaderAsks: answer.renewCertificate == true)
    }

    /// Renews this node's certificate after two thirds of its life, when the leader asks (it has
    /// no record of it), or when the leader lists it as revoked (a renewal whose answer was lost).
    private func renewCertificateIfDue(leaderAsks: Bool) async {
        guard let certificate else { return }
        FerryMetrics.setCertificateExpiry(seconds: certificate.current.notAfter.timeIntervalSinceNow)
        let revoked = revocations.isRevoked(serial: certificate.serial)
        guard leaderAsks || revoked || certificate.isDue() else { return }
        let old = certificate.current
        do {
            try await certificate.renew(with: mesh)
        } catch {
            logger.warning("cannot renew this node's TLS certificate", metadata: ["error": "\((error as? FerryError)?.message ?? "\(error)")"])
            return
        }
        FerryMetrics.setCertificateExpiry(seconds: certificate.current.notAfter.timeIntervalSinceNow)
        logger.notice(
            "renewed this node's TLS certificate",
            metadata: [
                "previous_expiry": "\(old.notAfter)", "expires_at": "\(certificate.current.notAfter)",
                "reason": "\(revoked ? "revoked" : leaderAsks ? "leader asked" : "due")",
            ])
    }

    /// Tells the leader every blob this node holds (after the leader restarted, or at first contact).
    private func sendInventory() async throws {
        let events = store.allBlobs().compactMap { digest in
            store.size(of: digest).map { BlobEvent(digest: digest, kind: .present, size: $0) }
        }
        try await mesh.blobEvents(BlobEvents(events: events, inventory: true))
        logger.info("sent the blob inventory to the leader", metadata: ["blobs": "\(events.count)"])
    }
}
