import FerryCore
import FerryMesh
import FerryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension SecurityTests {
    @Test("A loose data directory (0755, state.db and a store blob 0644) is tightened when the leader starts; one owned by another user is refused")
    func looseDataDirectory() async throws {
        try await TestCluster.with("secdir", nodes: []) { cluster in
            let reference = try await cluster.push("demo/app:1", layers: [.init("dir", "16K")], busybox: false)
            _ = try await cluster.admin.fetch(FetchRequest(images: [reference]))
            try await waitUntil("the leader holds the image") { try await cluster.admin.images().images.first?.state == .present }
            await cluster.leader.process.stop()
            let data = cluster.leader.dataDirectory
            let blobs = "\(data)/store/blobs/sha256"
            let blob = try #require(try FileManager.default.contentsOfDirectory(atPath: blobs).first)
            for directory in [data, "\(data)/store", "\(data)/store/blobs", blobs] { chmod(directory, 0o755) }
            for file in ["\(data)/state.db", "\(data)/admin-token", "\(blobs)/\(blob)"] { chmod(file, 0o644) }

            try await cluster.restartLeader()
            for directory in [data, "\(data)/store", "\(data)/store/blobs", blobs] { #expect(Self.mode(directory) == 0o700, "\(directory)") }
            for file in ["\(data)/state.db", "\(data)/state.db-wal", "\(data)/admin-token", "\(data)/address", "\(blobs)/\(blob)"] {
                #expect(Self.mode(file) == 0o600, "\(file)")
            }
            // Every file in it, whatever wrote it: closed to group and others.
            let open = try FileManager.default.subpathsOfDirectory(atPath: data).filter { Self.mode("\(data)/\($0)") & 0o077 != 0 }
            #expect(open.isEmpty, "\(open)")

            // Owned by another user: refused with one line, nothing started.
            await cluster.leader.process.stop()
            chown(data, 65534, 65534)
            defer { chown(data, 0, 0) }
            let refused = try BackgroundProcess.spawn(
                RepositoryLayout.ferryBinary, ["leader", "--data-dir", data, "--listen", "127.0.0.1:0"], logPath: cluster.dir.sub("refused.log"))
            var status: Int32 = 0
            var exited = false
            do {
                try await waitUntil("the leader to refuse the directory") {
                    exited = waitpid(refused.pid, &status, WNOHANG) == refused.pid
                    return exited
                }
            } catch is WaitTimeout {
                refused.signal(SIGKILL)
                await refused.wait()
            }
            #expect(exited && (status >> 8) & 0xff == 1, "the leader started on another user's directory")
            let log = refused.log.split(separator: "\n")
            #expect(log.count == 1 && log.first?.contains("belongs to another user (uid 65534)") == true, "\(refused.log)")
        }
    }

    static func mode(_ path: String) -> mode_t {
        let permissions = (try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? NSNumber
        return mode_t(permissions?.uint32Value ?? 0o7777)
    }
}
