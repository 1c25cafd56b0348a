import FerryCore
import FerryMesh
import FerryTestSupport
import Foundation

extension MaliciousNode {
    /// Downloads a blob from the leader's `/v2/` with this node's credential: the true bytes its
    /// lies are based on.
    func blob(_ digest: FerryCore.Digest, repository: String, into directory: String) async throws -> [UInt8] {
        let path = "\(directory)/\(digest.encoded)"
        let result = try await runProcess(
            "/usr/bin/curl",
            ["-sf", "--cacert", caFile ?? "", "-H", "Authorization: Bearer \(credential)", "-o", path, "\(leaderURL)/v2/\(repository)/blobs/\(digest)"])
        guard result.succeeded else { throw FerryError(.internal, "could not download \(digest) from the leader: \(result.stderr)") }
        return [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// Gets itself listed as holding `digest` without downloading a byte: asks the tracker for
    /// sources (so it was handed some), then claims the blob is present.
    func claimHolding(_ digest: FerryCore.Digest, size: Int64, repository: String) async throws {
        _ = try await sources(for: digest, size: size, repository: repository)
        try await claimPresent(digest, size: size)
    }

    /// Heartbeats every 2 s, advertising `address`, until the task is cancelled (so the leader
    /// keeps the node reachable).
    func keepAlive(address: String) -> Task<Void, Never> {
        Task {
            while !Task.isCancelled {
                _ = try? await heartbeat(address: address)
                try? await Task.sleep(for: .seconds(2))
            }
        }
    }
}

extension TestCluster {
    /// Fetches `reference` on the leader and returns its blobs (config and layers).
    func fetchedBlobs(_ reference: String) async throws -> [(digest: FerryCore.Digest, size: Int64)] {
        let fetched = try await ferry(["fetch", reference])
        guard fetched.status == 0 else { throw FerryError(.internal, "fetch failed: \(fetched.stderr)") }
        guard let image = try await admin.images().images.first(where: { $0.reference == reference || reference.hasSuffix($0.reference) || $0.reference.hasSuffix(reference) }) else {
            throw FerryError(.notFound, "image \(reference) not listed")
        }
        return try (try await admin.image(id: image.id).blobs ?? []).map { (try FerryCore.Digest(parsing: $0.digest), $0.size) }
    }
}
