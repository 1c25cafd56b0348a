import Crypto
import FerryCore
import FerryDiagnostics
import FerryMesh
import Foundation

/// A follower joining the leader with the join token.
///
/// Over TLS, the follower first fetches the cluster CA from the leader's handshake and checks it
/// against the fingerprint in the join token — before the token's secret is sent — then joins
/// trusting that CA alone and requiring the leader's own certificate (``NodeAddress/leaderName``:
/// a node's certificate in front of the leader gets nothing), and receives a certificate for a
/// key it made itself. The CA, the key,
/// the certificate and the node's identity are written to the data directory.
struct NodeJoin: Sendable {
    let leaderURL: String
    let name: String
    let platform: Platform
    let advertisedURL: String?
    let directory: DataDirectory
    /// The credential this node held before (its `node.json` names another leader URL, say):
    /// proof that the name is its own.
    var previousCredential: String? = nil
    /// The mesh protocol version it claims.
    var protocolVersion = FerryVersion.meshProtocol
    /// The node joined this leader under another cluster CA, and the leader now presents the join
    /// token's (the site made a new CA): joining it is what the operator asked for, not another
    /// cluster by mistake (``refuseAnotherCluster(_:)`` does not apply).
    var replacingCA = false

    var secure: Bool { leaderURL.hasPrefix("https://") }

    func join(with token: JoinToken) async throws -> NodeIdentity {
        var publicKey: String?
        var nodeKey: P256.Signing.PrivateKey?
        var ca: String?
        // The CA is trusted for the join from a file of its own, and becomes the node's `ca.pem`
        // only once it has joined: a refused join leaves the node's CA as it was.
        let joiningCA = directory.caCertificatePath + ".joining"
        defer { unlink(joiningCA) }
        if secure {
            if !replacingCA { try refuseAnotherCluster(token) }
            let leader = try NodeAddress(leaderURL: leaderURL)
            ca = try await MeshTLS.fetchClusterCA(host: leader.host, port: leader.port, fingerprint: token.caFingerprint)
            try directory.writeAtomically(ca!, to: joiningCA, mode: 0o600)
            let key = P256.Signing.PrivateKey()
            nodeKey = key
            publicKey = key.publicKey.pemRepresentation
        }
        // The proof of the node's name: the credential it holds or, on a first join, a secret kept
        // on disk before it is sent. A node that never receives the answer (a lost response, a
        // stop before node.json is written) sends the same proof again, and the leader, which
        // keeps it until the new credential is used, gives it its name again.
        let proof = try previousCredential ?? firstJoinProof(for: token)
        let response: JoinResponse
        do {
            response = try await MeshClient.join(
                baseURL: leaderURL, joinToken: token.description, caFile: secure ? joiningCA : nil,
                JoinRequest(name: name, address: advertisedURL, platform: platform.description, publicKey: publicKey, credential: proof,
                    protocolVersion: protocolVersion))
        } catch let error as FerryError where error.code == .protocolVersion {
            throw FerryError(.protocolVersion, "the leader at \(leaderURL) refused this node: \(error.message)")
        }
        Failpoint.followerJoinAnswered.reach()
        if let nodeKey {
            guard let certificate = response.certificate else {
                throw FerryError(.upstreamError, "the leader issued no TLS certificate for this node (is it running with --insecure-mesh?)")
            }
            // What an earlier renewal kept beside the old pair belongs to the old identity.
            let (nextKey, nextCertificate) = NodeCertificate.nextPaths(directory)
            for leftover in [nextKey, nextCertificate] { unlink(leftover) }
            try directory.writeAtomically(nodeKey.pemRepresentation + "\n", to: directory.tlsKeyPath, mode: 0o600)
            try directory.writeAtomically(certificate + "\n", to: directory.tlsCertificatePath, mode: 0o600)
        }
        let joined = NodeIdentity(
            nodeID: response.nodeID, name: response.name, credential: response.credential, leader: leaderURL, peerKey: response.peerKey)
        // A first join: ca.pem before node.json, so that a node with an identity always has a CA.
        // Joining again under a new CA: node.json first, so that a node stopped in between holds
        // its new credential and the old CA, and joins again at its next start
        // (``FollowerService/join()``), its credential as proof; the other way round it would
        // hold a credential the leader no longer takes.
        if let ca, !replacingCA { try directory.writeAtomically(ca, to: directory.caCertificatePath, mode: 0o600) }
        try joined.save(in: directory)
        unlink(directory.joinProofPath)
        if let ca, replacingCA { try directory.writeAtomically(ca, to: directory.caCertificatePath, mode: 0o600) }
        return joined
    }

    /// The secret a first join sends as its proof: the one an earlier attempt kept in
    /// `join-proof` for the same cluster (its CA's fingerprint beside it), else a new one, written
    /// before it is sent. Another cluster's never goes out: it would let whoever holds a token of
    /// that cluster take the name there. An unreadable file (a stop mid-write) was never sent.
    func firstJoinProof(for token: JoinToken) throws(FerryError) -> String {
        let file = directory.joinProofPath
        let kept = (try? String(contentsOfFile: file, encoding: .utf8))?.split(separator: " ").map { String($0).trimmingWhitespace() }
        if let kept, kept.count == 2, kept[0].count >= 32, kept[1] == token.caFingerprint { return kept[0] }
        let secret = DataDirectory.randomToken()
        try directory.writeAtomically("\(secret) \(token.caFingerprint)\n", to: file, mode: 0o600)
        return secret
    }

    /// A node that has joined a cluster (its `node.json` and `ca.pem`) re-joins only that
    /// cluster: a leader that moved, or restored from a backup, keeps its CA. A join token of
    /// another cluster (another CA) is refused before anything is sent or written; otherwise the
    /// node would leave its cluster silently, its identity overwritten, and be refused there
    /// afterwards as a name already taken.
    func refuseAnotherCluster(_ token: JoinToken) throws {
        try Self.refuseAnotherCluster(token, directory: directory)
    }

    /// The fingerprint of the cluster CA the node in `directory` trusts (its `ca.pem`), if readable.
    static func heldCAFingerprint(_ directory: DataDirectory) -> String? {
        guard let pem = try? String(contentsOfFile: directory.caCertificatePath, encoding: .utf8) else { return nil }
        return try? MeshTLS.fingerprint(ofPEM: pem)
    }

    /// ``refuseAnotherCluster(_:)`` for the node whose data directory is `directory`.
    static func refuseAnotherCluster(_ token: JoinToken, directory: DataDirectory) throws {
        guard NodeIdentity.load(from: directory) != nil, let held = heldCAFingerprint(directory), held != token.caFingerprint else { return }
        throw FerryError(
            .configuration,
            "this node belongs to another cluster (its CA \(directory.caCertificatePath) is \(held.prefix(16))…, the join token's \(token.caFingerprint.prefix(16))…): check --leader and the join token; to move the node to this cluster, remove \(directory.nodeIdentityPath) first (the content store is kept)")
    }
}
