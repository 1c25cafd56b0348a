import Crypto
import FerryCore
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

    var secure: Bool { leaderURL.hasPrefix("https://") }

    func join(with token: JoinToken) async throws -> NodeIdentity {
        var publicKey: String?
        var nodeKey: P256.Signing.PrivateKey?
        if secure {
            let leader = try NodeAddress(leaderURL: leaderURL)
            let ca = try await MeshTLS.fetchClusterCA(host: leader.host, port: leader.port, fingerprint: token.caFingerprint)
            try directory.writeAtomically(ca, to: directory.caCertificatePath, mode: 0o600)
            let key = P256.Signing.PrivateKey()
            nodeKey = key
            publicKey = key.publicKey.pemRepresentation
        }
        let response: JoinResponse
        do {
            response = try await MeshClient.join(
                baseURL: leaderURL, joinToken: token.description, caFile: secure ? directory.caCertificatePath : nil,
                JoinRequest(name: name, address: advertisedURL, platform: platform.description, publicKey: publicKey, credential: previousCredential,
                    protocolVersion: protocolVersion))
        } catch let error as FerryError where error.code == .protocolVersion {
            throw FerryError(.protocolVersion, "the leader at \(leaderURL) refused this node: \(error.message)")
        }
        if let nodeKey {
            guard let certificate = response.certificate else {
                throw FerryError(.upstreamError, "the leader issued no TLS certificate for this node (is it running with --insecure-mesh?)")
            }
            try directory.writeAtomically(nodeKey.pemRepresentation + "\n", to: directory.tlsKeyPath, mode: 0o600)
            try directory.writeAtomically(certificate + "\n", to: directory.tlsCertificatePath, mode: 0o600)
        }
        let joined = NodeIdentity(
            nodeID: response.nodeID, name: response.name, credential: response.credential, leader: leaderURL, peerKey: response.peerKey)
        try joined.save(in: directory)
        return joined
    }
}
