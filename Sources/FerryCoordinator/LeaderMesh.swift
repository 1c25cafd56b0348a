import Crypto
import FerryConcurrency
import FerryCore
import FerryDiagnostics
import FerryFormats
import FerryMesh
import FerryPolicy
import FerryServer
import FerryState
import FerryStore
import Foundation
import Logging

/// The leader's side of the coordination API (``MeshAPI``): joins, heartbeats, sources from the
/// tracker, blob events, install work, reports and load slots.
struct LeaderMesh: MeshBackend {
    let database: FerryDatabase
    let store: BlobStore
    /// Fetches a blob from upstream again when the leader's copy failed its re-verification.
    let fetcher: BlobFetcher
    let tracker: Tracker
    /// The leader's upstream transfers in flight, with when each last moved.
    let progress: ProgressBoard
    let installs: InstallCoordinator
    let rollouts: RolloutCoordinator
    let credentials: LeaderCredentials
    let ca: ClusterCA
    let peerKey: Curve25519.Signing.PrivateKey
    /// Plain HTTP mesh: no certificates are issued.
    let insecureMesh: Bool
    /// How long node certificates are valid (``LeaderConfiguration/nodeCertificateValidity``).
    let certificateValidity: TimeInterval
    let logger: Logger
    /// Nodes using another certificate than the one last issued to them (``CertificateReissues``).
    let reissues = CertificateReissues()
    /// One renewal of a node at a time: renewals asked at once would each pass the window's
    /// check and each revoke the one before.
    let renewals = KeyedSemaphore<Int64>(limit: 1)

    /// How long a sources request for a blob nobody holds yet, but that the leader is about to
    /// fetch, waits for the leader to start receiving it (answered at once when it does): the
    /// requester learns of the leader's first byte as it arrives instead of polling with backoff.
    static let sourcesWait: Duration = .seconds(2)

    /// Joins a node with join token `token` (nil: the admin token). A name already held is
    /// given only to a request carrying that node's credential, or the proof of its last join
    /// while the credential that join gave is unused (a repeat of a join whose answer was lost:
    /// ``FerryDatabase/join(name:address:platform:credentialHash:proof:joinToken:now:)``).
    func join(_ request: JoinRequest, token: Int64?) async throws -> JoinResponse {
        try checkProtocol(request.protocolVersion, name: request.name)
        guard JoinRequest.isValidName(request.name) else {
            throw FerryError(.invalidArgument, "invalid node name '\(request.name.prefix(80))': use lowercase letters, digits, '.', '_' and '-', starting with a letter or digit, at most 63")
        }
        guard !request.name.hasSuffix(".ferry.invalid") else {
            throw FerryError(.invalidArgument, "invalid node name '\(request.name)': names ending in .ferry.invalid are reserved for the leader")
        }
        let platform = try Platform(parsing: request.platform)
        let address = try request.address.map { text throws(FerryError) in try NodeAddress(parsing: text, allowPlainHTTP: insecureMesh) }
        let credential = DataDirectory.randomToken()
        let node = try await database.join(
            name: request.name, address: address?.description, platform: platform.description,
            credentialHash: LeaderCredentials.hash(credential), proof: request.credential.map(LeaderCredentials.hash), joinToken: token)
        credentials.invalidate()
        logger.notice(
            "node joined",
            metadata: ["node": "\(node.name)", "address": "\(node.address ?? "-")", "platform": "\(node.platform)", "token_id": "\(token.map { "\($0)" } ?? "admin")"])
        await tracker.forget(node.name, rechecks: true)
        var certificate: String?
        if let publicKey = request.publicKey, !insecureMesh {
            let issued = try ca.issue(publicKeyPEM: publicKey, for: .node(name: node.name, address: address), validity: certificateValidity)
            certificate = issued
            try await recordCertificate(issued, of: node)
        }
        return JoinResponse(
            nodeID: node.id!, name: node.name, credential: credential,
            heartbeatSeconds: Int(MeshAPI.heartbeatInterval.components.seconds),
            peerKey: peerKey.publicKey.rawRepresentation.base64EncodedString(), certificate: certificate)
    }

    func heartbeat(node: Int64, _ heartbeat: Heartbeat) async throws -> HeartbeatResponse {
        if MeshProtocolCompatibility().refusal(nodeVersion: heartbeat.protocolVersion) != nil {
            // Named as `ferry nodes` shows it (the log said the node's number).
            try checkProtocol(heartbeat.protocolVersion, name: (try? await database.node(id: node)?.name) ?? "\(node)")
        }
        let heartbeat = heartbeat.bounded()
        // Peers build the URLs they fetch from this address: nothing but https://host:port.
        let address = try heartbeat.address.map { text throws(FerryError) in try NodeAddress(parsing: text, allowPlainHTTP: insecureMesh) }
        try await database.heartbeat(
            nodeID: node, dockerVersion: heartbeat.dockerVersion, dockerError: heartbeat.dockerError, address: address?.description)
        guard let record = try await database.node(id: node) else { return HeartbeatResponse(sendInventory: false) }
        let now = Date()
        FerryMetrics.setCAExpiry(seconds: ca.expiresAt.timeIntervalSince(now))
        let revoked = try await database.revokedCertificateSerials(now: now)
        // A node presenting a certificate other than the one last issued to it missed that
        // renewal's answer (it uses one the renewal revoked), or this leader was restored from a
        // backup older than its certificate: it is asked to renew, at most once a day.
        let reissue =
            !insecureMesh && reissues.note(node: node, presented: heartbeat.certificateSerial, recorded: record.certificateSerial)
            && reissues.mayReissue(node: node, now: now)
        // Taken last: nothing after this can fail and lose them.
        let rechecks = await tracker.takeRechecks(for: record.name)
        return HeartbeatResponse(
            sendInventory: await tracker.needsInventory(record.name), revokedCertificates: revoked,
            renewCertificate: insecureMesh ? nil : record.certificateSerial == nil || reissue, recheckBlobs: rechecks.isEmpty ? nil : rechecks)
    }

    /// Issues the node a new certificate (renewal) for a key it made, naming it and its checked
    /// address as at join; the previous one is revoked (peers learn it with their next heartbeat,
    /// by when the node uses the new one), and so is the one it proves it uses
    /// (``CertificateRequest/current``) when that is another of its own (a leader restored from
    /// an older backup never issued it, so it would stay good until it expired). Refused while
    /// the current certificate has more than half its life left: a node cannot grow the
    /// revocation list at will.
    func renewCertificate(node: Int64, _ request: CertificateRequest) async throws -> CertificateResponse {
        try await renewals.withPermit(node) { try await renew(node: node, request) }
    }

    private func renew(node: Int64, _ request: CertificateRequest) async throws -> CertificateResponse {
        guard !insecureMesh else { throw FerryError(.unsupported, "this leader runs a plain-HTTP mesh (--insecure-mesh): there are no certificates") }
        guard let record = try await database.node(id: node), record.removedAt == nil else { throw FerryError(.notFound, "unknown node") }
        let now = Date()
        var reissue = false
        if let expiresAt = record.certificateExpiresAt {
            let left = expiresAt.timeIntervalSince(now)
            if left >= certificateValidity / 2 && left <= certificateValidity * 1.01 {
                guard reissues.mayReissue(node: node, now: now) else {
                    throw FerryError(
                        .conflict, "this node's certificate is not due for renewal yet (it expires \(expiresAt)); renew after two thirds of its life")
                }
                reissue = true
            }
        }
        let address = try record.address.map { text throws(FerryError) in try NodeAddress(parsing: text, allowPlainHTTP: false) }
        let certificate = try ca.issue(publicKeyPEM: request.publicKey, for: .node(name: record.name, address: address), validity: certificateValidity)
        // Only a certificate of this node's whose key signed this request: never a serial a request names.
        let unrecorded = request.current.flatMap { ca.verified($0, newPublicKey: request.publicKey, now: now) }.flatMap {
            $0.isUnrecorded(ofNode: record.name, recorded: record.certificateSerial) ? $0 : nil
        }
        try await recordCertificate(certificate, of: record, alsoRevoking: unrecorded)
        if reissue { reissues.reissued(node: node, now: now) }
        logger.notice(
            "node certificate renewed",
            metadata: ["node": "\(record.name)", "reissue": "\(reissue)", "revoked_unrecorded": "\(unrecorded?.serial ?? "none")"])
        return CertificateResponse(certificate: certificate)
    }

    /// Records the certificate issued to `node`; the one it held before is revoked, and `other`
    /// (one the node presented that this leader has no record of) too.
    private func recordCertificate(_ pem: String, of node: NodeRecord, alsoRevoking other: PresentedCertificate? = nil) async throws {
        let issued: (serial: String, expiresAt: Date)
        do {
            issued = try MeshTLS.serialAndExpiry(ofPEM: pem)
        } catch {
            throw FerryError(.internal, "cannot read the certificate just issued: \(error)")
        }
        try await database.recordCertificate(
            nodeID: node.id!, serial: issued.serial, expiresAt: issued.expiresAt, revokePrevious: true,
            alsoRevoking: other.map { ($0.serial, $0.expiresAt) })
    }

    /// Refuses a node whose mesh protocol version this leader does not accept.
    private func checkProtocol(_ version: Int?, name: String) throws {
        guard let refusal = MeshProtocolCompatibility().refusal(nodeVersion: version) else { return }
        logger.warning(
            "refused a node speaking another mesh protocol",
            metadata: ["node": "\(TerminalText.escape(name, limit: 63))", "version": "\(version.map { "\($0)" } ?? "none")", "leader_version": "\(FerryVersion.meshProtocol)"])
        throw refusal
    }


    func work(node: Int64, wait: Duration, known: Set<Int64>, switches: Set<String>, halts: Bool) async throws -> WorkResponse {
        let name = try await database.node(id: node)?.name
        return try await installs.work(
            node: node, wait: wait, known: known, knownSwitches: switches,
            switches: { [rollouts] in name.map { rollouts.items(forNode: $0, halts: halts) } ?? [] })
    }

    func switchReport(node: Int64, rollout: String, _ report: SwitchReport) async throws {
        try await rollouts.report(node: node, rollout: rollout, report)
    }

    func report(node: Int64, target: Int64, _ report: TargetReport) async throws {
        try await installs.report(node: node, target: target, report)
    }

    func requestLoad(node: Int64, target: Int64, wait: Duration) async throws -> LoadPermit {
        try await installs.requestLoad(node: node, target: target, wait: wait)
    }
}
