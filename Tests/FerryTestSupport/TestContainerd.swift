import FerryCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A real, private `containerd` (Debian `containerd`) with its own root, state, socket and
/// config (the CRI plugin off), and `ctr` against it. Needs root.
public struct TestContainerd: Sendable {
    public let directory: String
    let process: BackgroundProcess

    public var socket: String { "\(directory)/c.sock" }

    /// Starts containerd in `directory` (short: the socket path is limited to 107 bytes) and
    /// waits until `ctr version` answers.
    public static func start(in directory: String) async throws -> TestContainerd {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let config = """
            version = 2
            root = "\(directory)/root"
            state = "\(directory)/state"
            disabled_plugins = ["io.containerd.grpc.v1.cri"]
            [grpc]
              address = "\(directory)/c.sock"

            """
        try config.write(toFile: "\(directory)/config.toml", atomically: true, encoding: .utf8)
        let process = try BackgroundProcess.spawn(
            "/usr/bin/containerd",
            ["--config", "\(directory)/config.toml", "--root", "\(directory)/root", "--state", "\(directory)/state", "--address", "\(directory)/c.sock"],
            logPath: "\(directory)/containerd.log")
        let containerd = TestContainerd(directory: directory, process: process)
        do {
            try await waitUntil("containerd to answer at \(containerd.socket)", timeout: .seconds(30), every: .milliseconds(100)) {
                guard kill(process.pid, 0) == 0 else { throw FerryError(.internal, "containerd exited: \(process.log.suffix(2000))") }
                return try await containerd.ctr(["version"]).succeeded
            }
        } catch {
            await containerd.stop()
            throw error
        }
        return containerd
    }

    /// `ctr --address SOCKET ARGUMENTS…`.
    public func ctr(_ arguments: [String]) async throws -> ProcessResult {
        try await runProcess("/usr/bin/ctr", ["--address", socket] + arguments)
    }

    public func stop() async {
        await process.stop()
        // The native snapshotter leaves plain directories; overlayfs mounts would need unmounting.
        _ = try? await runProcess("/bin/sh", ["-c", "grep -o ' \(directory)/[^ ]*' /proc/mounts | sort -r | xargs -r -n1 umount -l"])
    }
}
