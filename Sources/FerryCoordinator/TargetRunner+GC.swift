import FerryCore
import FerryMesh
import FerryState
import Foundation
import Logging

extension TargetRunner {
    /// The store lease that keeps the target's manifest and blobs from garbage collection from
    /// the moment the target starts until it ends (transfer, verification, Docker load).
    var leaseName: String { "install target \(item.targetID)" }

    /// Records the image as held by this node once it is in the engine: what the node's garbage
    /// collection keeps (the last K versions of each repository).
    func recordHeld(_ manifest: ImageManifest, bytes: [UInt8], mediaType: String) async {
        do {
            let reference = try ImageReference(parsing: item.reference)
            try await follower.database.recordHeldImage(
                reference, platform: follower.configuration.platform,
                manifest: ManifestRecord(digest: item.manifestDigest, mediaType: mediaType, bytes: bytes), blobs: manifest.blobs)
        } catch {
            follower.logger.warning(
                "could not record the installed image; garbage collection will not count it as held",
                metadata: ["image": "\(item.reference)", "error": "\((error as? FerryError)?.message ?? "\(error)")"])
        }
    }
}
