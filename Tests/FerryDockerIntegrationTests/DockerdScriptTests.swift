import FerryCore
import FerryTestSupport
import Foundation
import Testing

@Suite("cluster/dockerd.sh")
struct DockerdScriptTests {
    static let script = RepositoryLayout.cluster("dockerd.sh")

    // The script checks for root (and for dockerd) before it checks the length.
    @Test("a DIR whose sockets would exceed 107 bytes is refused before anything is created", .requiresRoot("cluster/dockerd.sh start"))
    func longDirectory() async throws {
        let dir = "/tmp/" + String(repeating: "d", count: 80)
        let result = try await runProcess(Self.script, ["start", dir])
        #expect(result.status == 1)
        #expect(result.stderr.contains("is too long"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: dir))
    }

    @Test("misuse gets a one-line error; stop and status of an engine that is not running")
    func misuseAndIdle() async throws {
        let driver = try await runProcess(Self.script, ["start", "/tmp/fdk-unused", "--storage-driver", "btrfs"])
        #expect(driver.status == 1 && driver.stderr.contains("--storage-driver must be overlay2 or vfs"), "\(driver.stderr)")
        let unknown = try await runProcess(Self.script, ["restart", "/tmp/fdk-unused"])
        #expect(unknown.status == 1 && unknown.stderr.contains("unknown command"))
        let status = try await runProcess(Self.script, ["status", "/nonexistent/fdk"])
        #expect(status.status == 1 && status.stdout.trimmingWhitespace() == "not running")
        let stop = try await runProcess(Self.script, ["stop", "/nonexistent/fdk"])
        #expect(stop.succeeded)
        #expect(!FileManager.default.fileExists(atPath: "/tmp/fdk-unused"))
    }
}
