import FerryCore
import Foundation

/// A real, private `dockerd` (Debian `docker.io`), started by `cluster/dockerd.sh` with its own
/// data root, exec root, socket and pidfile. Needs root.
public struct TestDockerEngine: Sendable {
    public let directory: String

    public var socket: String { "\(directory)/docker.sock" }
    public var host: String { "unix://\(socket)" }

    /// Starts an engine in `directory`; `netns`: inside that network namespace (a jailed node's
    /// engine shares its follower's loopback, where the pull handoff's registry listens).
    public static func start(in directory: String, netns: String? = nil) async throws -> TestDockerEngine {
        try await runChecked(RepositoryLayout.cluster("dockerd.sh"), ["start", directory] + (netns.map { ["--netns", $0] } ?? []))
        return TestDockerEngine(directory: directory)
    }

    public func stop() async {
        _ = try? await runProcess(RepositoryLayout.cluster("dockerd.sh"), ["stop", directory])
    }

    /// Runs the docker CLI against this engine.
    public func docker(_ arguments: [String]) async throws -> ProcessResult {
        try await runProcess("/usr/bin/docker", ["-H", host] + arguments)
    }

    /// The image's ID in this engine, or nil if it does not hold it.
    public func imageID(_ reference: String) async throws -> String? {
        let result = try await docker(["image", "inspect", "--format", "{{.Id}}", reference])
        return result.succeeded ? result.stdout.trimmingWhitespace() : nil
    }

    /// `docker run --rm --network none IMAGE`: the container's output.
    public func run(_ reference: String) async throws -> ProcessResult {
        try await docker(["run", "--rm", "--network", "none", reference])
    }
}
