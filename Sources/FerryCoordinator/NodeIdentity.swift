import FerryCore
import FerryMesh
import Foundation

/// A follower's membership: what the leader gave it when it joined. Kept in
/// `DATA_DIR/node.json`, mode 0600, and reused across restarts.
struct NodeIdentity: Codable, Sendable, Hashable {
    var nodeID: Int64
    var name: String
    var credential: String
    var leader: String
    /// The leader's public key for peer tokens (base64 of the raw Ed25519 key).
    var peerKey: String?

    static func load(from directory: DataDirectory) -> NodeIdentity? {
        guard let data = FileManager.default.contents(atPath: directory.nodeIdentityPath) else { return nil }
        return try? JSONDecoder().decode(NodeIdentity.self, from: data)
    }

    func save(in directory: DataDirectory) throws(FerryError) {
        let data: Data
        do { data = try JSONEncoder().encode(self) } catch { throw FerryError(.internal, "cannot encode the node identity") }
        try directory.writeAtomically(String(decoding: data, as: UTF8.self), to: directory.nodeIdentityPath, mode: 0o600)
    }
}

extension DataDirectory {
    var nodeIdentityPath: String { "\(path)/node.json" }
    /// A node's first join's proof (``NodeJoin``), until it holds its `node.json`.
    var joinProofPath: String { "\(path)/join-proof" }
}
