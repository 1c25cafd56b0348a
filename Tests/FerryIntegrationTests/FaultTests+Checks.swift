import FerryCore
import FerryMesh
import FerryStore
import FerryTestSupport
import Foundation
import Synchronization
import Testing

/// What the checks of one fault scenario found, for ``FaultReport``.
struct FaultCheck {
    /// `docker run` of every image on every node that failed.
    var failedRuns: [String] = []
    /// Blobs, in any store, whose bytes do not match their digest.
    var corruptBlobs: [String] = []
    /// Blob bytes upstream sent, and the bytes of the images' distinct blobs.
    var upstreamBytes: Int64?
    var imageBytes: Int64 = 0
    /// Bytes upstream sent twice: a resumed request overlapping what an earlier one had sent
    /// (in flight when a process died or a link dropped).
    var resentBytes: Int64?
}

extension TestCluster {
    /// Polls install `id` until `condition` holds for its status; returns that status. Throws,
    /// naming `what`, after `timeout`.
    func install(
        _ id: Int64, until what: String, timeout: Duration = .seconds(120), _ condition: (InstallStatus) -> Bool
    ) async throws -> InstallStatus {
        var status = try await admin.install(id: id)
        try await waitUntil(what, timeout: timeout, every: .milliseconds(100)) {
            status = try await admin.install(id: id)
            return condition(status)
        }
        return status
    }

    /// Every blob in the leader's and the followers' stores whose bytes do not match its digest.
    func corruptBlobs() async throws -> [String] {
        var bad: [String] = []
        for directory in [leader.dataDirectory] + nodes.values.map(\.directory) {
            bad += try await FerryIntegrationTests.corruptBlobs(in: BlobStore(root: "\(directory)/store")).map { "\(directory): \($0)" }
        }
        return bad
    }

    /// Mounts a tmpfs of `bytes` at `path` (unmounted when the cluster stops).
    func mountTmpfs(at path: String, bytes: Int) async throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        _ = try await runChecked("/usr/bin/mount", ["-t", "tmpfs", "-o", "size=\(bytes),mode=0700", "tmpfs", path])
        cleanups.append { _ = try? await runProcess("/usr/bin/umount", ["-l", path]) }
    }

    /// The checks every scenario ends with: each image runs on each node with an engine, no store
    /// holds a corrupt blob, and upstream sent each blob once (`attempts` times when the scenario
    /// fetched it again on purpose) plus at most what was in flight at each cut.
    func faultCheck(references: [String], proxy: FaultProxy?, attempts: Int = 1) async throws -> FaultCheck {
        var check = FaultCheck()
        for (name, node) in nodes.sorted(by: { $0.key < $1.key }) where node.engine != nil {
            for reference in references {
                let repoTag = reference.drop { $0 != "/" }.dropFirst()
                let run = try await engine(name).run(reference)
                if !run.stdout.contains("ferry-image \(repoTag) ok") { check.failedRuns.append("\(name) \(repoTag): \(run.stderr)") }
            }
        }
        #expect(check.failedRuns.isEmpty, "\(check.failedRuns)")
        check.corruptBlobs = try await corruptBlobs()
        #expect(check.corruptBlobs.isEmpty, "\(check.corruptBlobs)")

        var sizes: [String: Int64] = [:]
        let images = try await admin.images().images
        for reference in references {
            guard let image = images.first(where: { $0.reference == reference }) else {
                Issue.record("the leader does not list \(reference)")
                continue
            }
            for blob in try await admin.image(id: image.id).blobs ?? [] { sizes[blob.digest] = blob.size }
        }
        check.imageBytes = sizes.values.reduce(0, +)
        guard let proxy else { return check }
        let gets = proxy.requests.filter { $0.method == "GET" && $0.path.contains("/blobs/") && (200..<300).contains($0.status) }
        check.upstreamBytes = gets.reduce(0) { $0 + $1.bytes }
        var resent: Int64 = 0
        var cuts = 0
        for (path, requests) in Dictionary(grouping: gets, by: \.path) {
            let digest = String(path.split(separator: "/").last ?? "")
            let size = sizes[digest] ?? 0
            var covered: Int64 = 0
            for request in requests.sorted(by: { $0.at < $1.at }) {
                let end = request.start + request.bytes
                resent += max(0, min(covered, end) - request.start)
                covered = max(covered, end)
                if request.start + request.bytes < size { cuts += 1 }
            }
        }
        check.resentBytes = resent
        // In flight at a cut: what was on the wire and in the receiver's buffers, never the blob
        // again from the start.
        let inFlight: Int64 = 2 * 1024 * 1024
        let allowance = Int64(attempts - 1) * check.imageBytes + Int64(cuts) * inFlight
        #expect(resent <= allowance, "upstream sent \(resent) bytes twice over \(cuts) cuts")
        #expect(
            check.upstreamBytes! <= Int64(attempts) * check.imageBytes + Int64(cuts) * inFlight,
            "upstream sent \(check.upstreamBytes!) bytes for \(check.imageBytes) bytes of blobs")
        return check
    }
}

/// Runs `body` with a fault proxy in front of the cluster's registry; stops it afterwards.
func withFaultProxy<T>(_ cluster: TestCluster, plan: FaultProxy.Plan = .init(), _ body: (FaultProxy) async throws -> T) async throws -> T {
    let proxy = try await FaultProxy.start(upstream: cluster.registry.url, plan: plan)
    do {
        let result = try await body(proxy)
        await proxy.stop()
        return result
    } catch {
        await proxy.stop()
        throw error
    }
}

extension FaultProxy {
    /// `reference` (pushed to the registry) as reached through this proxy.
    func rewrite(_ reference: String) -> String {
        host + reference.drop { $0 != "/" }
    }
}

/// The figures of each scenario: printed, and appended as a Markdown table row to the file in
/// `FERRY_FAULT_REPORT` (`make test-faults` puts them in docs/reliability.md).
enum FaultReport {
    private static let lock = Mutex(())

    static func record(_ scenario: String, seed: UInt64? = nil, faults: Int, installs: String, check: FaultCheck, note: String? = nil) {
        let mib = { (bytes: Int64) in String(format: "%.1f", Double(bytes) / 1_048_576) }
        let upstream = check.upstreamBytes.map { "\(mib($0)) MiB (\(String(format: "%.2f", Double($0) / Double(max(check.imageBytes, 1))))×)" } ?? "-"
        let row = [
            scenario + (seed.map { " (seed \($0))" } ?? ""), "\(faults)", installs, "\(mib(check.imageBytes)) MiB", upstream,
            check.resentBytes.map { "\(mib($0)) MiB" } ?? "-", "\(check.corruptBlobs.count)", "\(check.failedRuns.count)", note ?? "",
        ]
        let line = "| " + row.joined(separator: " | ") + " |"
        print("fault-report: \(line)")
        guard let path = ProcessInfo.processInfo.environment["FERRY_FAULT_REPORT"] else { return }
        lock.withLock { _ in
            if !FileManager.default.fileExists(atPath: path) {
                _ = FileManager.default.createFile(atPath: path, contents: Data(header.utf8))
            }
            guard let handle = FileHandle(forWritingAtPath: path) else { return }
            handle.seekToEndOfFile()
            handle.write(Data((line + "\n").utf8))
            try? handle.close()
        }
    }

    static let header = """
        | scenario | faults injected | installs completed | image blobs | upstream sent | sent twice | corrupt blobs in stores | failed runs | note |
        |---|---|---|---|---|---|---|---|---|

        """
}
