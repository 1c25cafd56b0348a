import Crypto
import FerryCore
import FerryMesh
import FerryServer
import FerryState
import Foundation
import Synchronization

/// Who holds a token on the leader: the admin token, a join token (may only join; looked up by
/// the sha256 of its secret, whatever its state, so that the join can say why an expired, used-up
/// or revoked one is refused), or a node credential (looked up by its sha256; the leader never
/// stores the credential itself).
final class LeaderCredentials: CredentialVerifier {
    private let adminToken: String
    /// The cluster CA's fingerprint: a join token naming another CA is not this cluster's.
    private let caFingerprint: String
    private let database: FerryDatabase
    /// Node principals by credential hash, and a generation that ``invalidate()`` moves on, so a
    /// lookup that started before a removal never caches what it read.
    private let cache = Mutex<(generation: Int, principals: [String: Principal])>((0, [:]))

    init(adminToken: String, caFingerprint: String, database: FerryDatabase) {
        self.adminToken = adminToken
        self.caFingerprint = caFingerprint
        self.database = database
    }

    func principal(forToken token: String) async -> Principal? {
        if constantTimeEquals(token, adminToken) { return Principal(.admin) }
        if token.hasPrefix("fjt1.") {
            guard let parsed = try? JoinToken(parsing: token), parsed.caFingerprint == caFingerprint,
                let record = try? await database.joinToken(secretHash: Self.hash(parsed.secret)), let id = record.id
            else { return nil }
            return Principal(.joiner(token: id))
        }
        let hash = Self.hash(token)
        let (generation, cached) = cache.withLock { ($0.generation, $0.principals[hash]) }
        if let cached { return cached }
        guard let node = try? await database.node(credentialHash: hash), let id = node.id else { return nil }
        let principal = Principal(.node(id: id, name: node.name))
        let current = cache.withLock { cache in
            if cache.generation == generation { cache.principals[hash] = principal }
            return cache.generation == generation
        }
        // Invalidated meanwhile (the node may just have been removed): ask again.
        return current ? principal : await self.principal(forToken: token)
    }

    /// Forgets cached credentials (a node joined again and got a new one, or was removed).
    func invalidate() {
        cache.withLock { cache in
            cache.generation += 1
            cache.principals.removeAll()
        }
    }

    static func hash(_ credential: String) -> String {
        Digest.sha256(of: Data(credential.utf8)).encoded
    }
}
