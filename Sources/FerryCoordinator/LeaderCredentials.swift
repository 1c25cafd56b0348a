import Crypto
import FerryCore
import FerryServer
import FerryState
import Foundation
import Synchronization

/// Who holds a token on the leader: the admin token, the join token (may only join), or a node
/// credential (looked up by its sha256; the leader never stores the credential itself).
final class LeaderCredentials: CredentialVerifier {
    private let adminToken: String
    private let joinToken: String
    private let database: FerryDatabase
    private let cache = Mutex<[String: Principal]>([:])

    init(adminToken: String, joinToken: String, database: FerryDatabase) {
        self.adminToken = adminToken
        self.joinToken = joinToken
        self.database = database
    }

    func principal(forToken token: String) async -> Principal? {
        if constantTimeEquals(token, adminToken) { return Principal(.admin) }
        if constantTimeEquals(token, joinToken) { return Principal(.joiner) }
        let hash = Self.hash(token)
        if let cached = cache.withLock({ $0[hash] }) { return cached }
        guard let node = try? await database.node(credentialHash: hash), let id = node.id else { return nil }
        let principal = Principal(.node(id: id, name: node.name))
        cache.withLock { $0[hash] = principal }
        return principal
    }

    /// Forgets cached credentials (a node joined again and got a new one).
    func invalidate() {
        cache.withLock { $0.removeAll() }
    }

    static func hash(_ credential: String) -> String {
        Digest.sha256(of: Data(credential.utf8)).encoded
    }
}
