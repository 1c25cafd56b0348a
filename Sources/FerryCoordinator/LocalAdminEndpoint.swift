import FerryCore
import Foundation

/// Where a follower's local admin route is and the credential it takes: how `ferry gc --data-dir`
/// reaches the follower running with that directory (garbage collection runs inside the follower,
/// which knows which blobs are in use).
public struct LocalAdminEndpoint: Sendable, Hashable {
    /// The URL the follower listens on.
    public var url: String
    /// The node credential from its `node.json`.
    public var credential: String

    /// The endpoint of the follower running with `dataDirectory`, from its `node.json` and
    /// `address` files; nil when the directory is not a follower's (it has no `node.json`).
    public static func follower(dataDirectory: String) throws(FerryError) -> LocalAdminEndpoint? {
        let identityPath = "\(dataDirectory)/node.json"
        guard FileManager.default.fileExists(atPath: identityPath) else { return nil }
        guard let data = FileManager.default.contents(atPath: identityPath),
            let identity = try? JSONDecoder().decode(NodeIdentity.self, from: data)
        else {
            throw FerryError(.configuration, "cannot read '\(identityPath)'; run as the user that runs the follower")
        }
        guard let address = try? String(contentsOfFile: "\(dataDirectory)/address", encoding: .utf8), !address.trimmingWhitespace().isEmpty else {
            throw FerryError(
                .configuration,
                "no follower is running with data directory '\(dataDirectory)' (no address file); start it: garbage collection runs inside the follower, which knows which blobs are in use")
        }
        return LocalAdminEndpoint(url: address.trimmingWhitespace(), credential: identity.credential)
    }
}
