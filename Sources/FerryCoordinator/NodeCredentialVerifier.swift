import Crypto
import FerryFormats
import FerryMesh
import FerryServer
import Foundation

/// Accepts the follower's own credential, and peer tokens signed by the leader for this node (each
/// opens one blob; `RegistryReadAPI` checks the digest against the request, ``TokenAuthMiddleware``
/// the client certificate against the token's node).
struct NodeCredentialVerifier: CredentialVerifier {
    let credential: String
    let nodeName: String
    let peerKey: Curve25519.Signing.PublicKey?

    func principal(forToken token: String) async -> Principal? {
        if constantTimeEquals(token, credential) { return Principal(.node(id: 0, name: nodeName)) }
        guard let peerKey,
            let claims = PeerToken.verify(token, publicKey: peerKey, digest: nil, audience: nodeName, now: Int64(Date().timeIntervalSince1970))
        else { return nil }
        return Principal(.peer(node: claims.node, digest: claims.digest))
    }
}
