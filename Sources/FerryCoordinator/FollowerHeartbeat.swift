import FerryCore
import FerryDiagnostics
import FerryDocker
import FerryMesh
import FerryStore
import Foundation
import Logging
import Synchronization

/// A follower's heartbeat: every ``MeshAPI/heartbeatInterval`` it tells the leader the engine's
/// version (or why the engine cannot be reached) and the address peers reach the node at, takes
/// the leader's list of revoked certificates, sends the blob inventory when the leader asks,
/// and renews the node's certificate when it is due.
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
    let logger: Logger

    /// Heartbeats until cancelled; throws the leader's refusal when it no longer accepts this
    /// node's mesh protocol version (the follower then stops with that one line).
    func run() async throws {
        // The first heartbeat carries the address peers reach this node at: wait until it listens.
        for _ in 0..<200 where !addressKnown() {
            try? await Task.sleep(for: .milliseconds(25))
        }
        let (refusals, refused) = AsyncStream<FerryError>.makeStream()
        // Re-verified beside the heartbeats, which hashing a large blob would hold up.
        let (rechecks, asked) = AsyncStream<Digest>.makeStream()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                for await digest in rechecks { await recheck(digest) }
            }
            group.addTask {
                let lastError = Mutex<String?>(nil)
                // What the engine said last: nil before the first heartbeat, then its version or why it cannot be reached.
                let lastEngine = Mutex<EngineState?>(nil)
                await PeriodicTask(every: MeshAPI.heartbeatInterval, runsAtStart: true) {
                    let engine = await engineState()
                    logEngineChange(from: lastEngine.withLock { $0 }, to: engine)
                    lastEngine.withLock { $0 = engine }
                    do {
                        for digest in try await beat(engine: engine) { asked.yield(digest) }
                        lastError.withLock { $0 = nil }
                    } catch let error as FerryError where error.code == .protocolVersion {
                        refused.yield(FerryError(.protocolVersion, "the leader at \(leaderURL) refused this node: \(error.message)"))
                    } catch {
                        let message = (error as? FerryError)?.message ?? "\(error)"
                        if lastError.withLock({ $0 }) != message { logger.warning("heartbeat failed", metadata: ["error": "\(message)"]) }
                        lastError.withLock { $0 = message }
                    }
                }.run()
            }
            group.addTask {
                for await refusal in refusals { throw refusal }
            }
            // The heartbeats end on cancellation or shutdown; a refusal ends them with an error.
            try await group.next()
            group.cancelAll()
        }
    }

    /// The node's Docker engine: its version, or why it cannot be reached.
    enum EngineState: Sendable, Equatable {
        case answers(version: String)
        case unreachable(String)
    }

    private func engineState() async -> EngineState {
        do {
            return .answers(version: try await docker.ping().serverVersion)
        } catch {
            return .unreachable((error as? FerryError)?.message ?? "\(error)")
        }
    }

    /// The follower's own log says when the engine cannot be reached (at the first heartbeat, or
    /// once it stops answering) and when it answers again, not only the leader's `ferry nodes`.
    private func logEngineChange(from old: EngineState?, to new: EngineState) {
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

    /// One heartbeat and what its answer asks for; returns the blobs to re-verify.
    private func beat(engine: EngineState) async throws -> [Digest] {
        var heartbeat = Heartbeat(dockerVersion: nil, dockerError: nil, address: address(), protocolVersion: protocolVersion)
        switch engine {
        case .answers(let version): heartbeat.dockerVersion = version
        case .unreachable(let message): heartbeat.dockerError = message
        }
        let answer = try await mesh.heartbeat(heartbeat)
        if let revoked = answer.revokedCertificates { revocations.update(revoked) }
        if answer.sendInventory { try await sendInventory() }
        await renewCertificateIfDue(leaderAsks: answer.renewCertificate == true)
        // Bounded: a heartbeat answer is the leader's word, not a work list.
        return Array((answer.recheckBlobs ?? []).prefix(64))
    }

    /// Peers reported this node's copy of `digest` corrupt, enough of them for the leader to flag
    /// it: the copy is hashed again, and dropped if it fails (the disk damaged it after it was
    /// verified), the leader told it is gone so that nobody is sent here for it; an install that
    /// needs it fetches it again. A sound copy stays.
    private func recheck(_ digest: Digest) async {
        guard let size = store.size(of: digest) else { return }
        var logger = self.logger
        logger[metadataKey: "digest"] = "\(digest)"
        do {
            if try await store.verify(digest) {
                logger.notice("re-verified this node's copy of a blob that peers reported corrupt: it is sound")
                return
            }
            FerryMetrics.countVerificationFailure()
            try store.delete(digest)
            logger.error("this node's copy of a blob failed verification (peers reported it corrupt): removed; an install that needs it fetches it again")
            try await mesh.blobEvents(BlobEvents(events: [BlobEvent(digest: digest, kind: .gone, size: size)]))
        } catch {
            logger.warning("could not re-verify this node's copy of a blob that peers reported corrupt", metadata: ["error": "\((error as? FerryError)?.message ?? "\(error)")"])
        }
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
