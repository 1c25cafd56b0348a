import FerryCore
import FerryDocker
import FerryTestSupport
import Foundation
import Testing

/// A real `dockerd` (started with `cluster/dockerd.sh` in a short temporary directory) and a
/// real registry, shared by the tests of one suite and stopped when the suite ends, whether
/// its tests pass or fail.
struct DockerEngineFixture: Sendable {
    let directory: TemporaryDirectory
    let socket: String
    let registry: TestRegistry
    let client: DockerClient

    @TaskLocal static var current: DockerEngineFixture?

    /// The fixture of the running suite.
    static var shared: DockerEngineFixture {
        get throws {
            guard let current else { throw FerryError(.internal, "no Docker engine fixture: add .dockerEngine to the suite") }
            return current
        }
    }

    /// Whether Debian's `dockerd` is installed (`cluster/deps.sh` installs it). Root is checked
    /// apart, by the suite's ``Testing/Trait/requiresRoot(_:sourceLocation:)``.
    static var isInstalled: Bool {
        FileManager.default.isExecutableFile(atPath: "/usr/sbin/dockerd")
    }

    static func start() async throws -> DockerEngineFixture {
        // Short: the engine's sockets live under it (unix socket paths are limited to 108 bytes).
        let directory = try TemporaryDirectory("fdk")
        do {
            let output = try await runChecked(RepositoryLayout.cluster("dockerd.sh"), ["start", directory.sub("d")])
            let socket = output.trimmingWhitespace()
            let registry = try await TestRegistry.start(in: directory.sub("registry"))
            let client = try DockerClient(host: "unix://\(socket)")
            return DockerEngineFixture(directory: directory, socket: socket, registry: registry, client: client)
        } catch {
            _ = try? await runProcess(RepositoryLayout.cluster("dockerd.sh"), ["stop", directory.sub("d")])
            _ = try? await runProcess(RepositoryLayout.cluster("registry.sh"), ["stop", directory.sub("registry")])
            directory.remove()
            throw error
        }
    }

    func stop() async {
        try? await client.shutdown()
        _ = try? await runProcess(RepositoryLayout.cluster("dockerd.sh"), ["stop", directory.sub("d")])
        await registry.stop()
        directory.remove()
    }

    /// Runs the docker CLI against this engine.
    func docker(_ arguments: [String]) async throws -> ProcessResult {
        try await runProcess("/usr/local/bin/docker".existingExecutable ?? "/usr/bin/docker", ["-H", "unix://\(socket)"] + arguments)
    }

    /// A fresh directory for one test's files, under the fixture's.
    func workDirectory(_ label: String) throws -> String {
        let path = directory.sub("work-\(label)-\(UUID().uuidString.prefix(6).lowercased())")
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}

extension String {
    var existingExecutable: String? { FileManager.default.isExecutableFile(atPath: self) ? self : nil }
}

/// Runs a suite inside one shared ``DockerEngineFixture``.
struct DockerEngineTrait: SuiteTrait, TestScoping {
    var isRecursive: Bool { false }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        let fixture = try await DockerEngineFixture.start()
        do {
            try await DockerEngineFixture.$current.withValue(fixture) { try await function() }
        } catch {
            await fixture.stop()
            throw error
        }
        await fixture.stop()
    }
}

extension Trait where Self == DockerEngineTrait {
    /// One real dockerd and registry for the whole suite.
    static var dockerEngine: Self { DockerEngineTrait() }
}
