import FerryCore
import FerryTestSupport
import Foundation

extension TestCluster {
    /// Pushes `repository` (busybox and one layer of `size`), installs it on `node` alone, then
    /// damages `node`'s copy of the layer (``damageLargestBlob(on:)``): a lying peer. Returns
    /// the reference.
    func pushInstalledAndDamaged(_ repository: String, layer name: String, size: String, on node: String) async throws -> String {
        let reference = try await push(repository, layers: [.init(name, size)])
        let installed = try await ferry(["install", reference, "--nodes", node])
        guard installed.status == 0 else { throw FerryError(.internal, "cannot install \(reference) on \(node): \(installed.stderr)") }
        try damageLargestBlob(on: node)
        return reference
    }

    /// Overwrites 16 bytes at offset 4096 of `node`'s largest stored blob behind its back: the
    /// node still believes it holds the blob (a corrupt peer, as a disk error would make one).
    func damageLargestBlob(on node: String) throws {
        let handle = try FileHandle(forUpdating: URL(fileURLWithPath: try largestBlob(on: node)))
        try handle.seek(toOffset: 4096)
        try handle.write(contentsOf: Data(repeating: 0x5a, count: 16))
        try handle.close()
    }

    /// The path of `node`'s largest stored blob.
    func largestBlob(on node: String) throws -> String {
        let blobs = dir.sub("node-\(node)/store/blobs/sha256")
        let size = { (name: String) in ((try? FileManager.default.attributesOfItem(atPath: "\(blobs)/\(name)")[.size] as? Int) ?? 0) }
        guard let largest = try FileManager.default.contentsOfDirectory(atPath: blobs).max(by: { size($0) < size($1) }) else {
            throw CocoaError(.fileNoSuchFile, userInfo: [NSFilePathErrorKey: blobs])
        }
        return "\(blobs)/\(largest)"
    }
}
