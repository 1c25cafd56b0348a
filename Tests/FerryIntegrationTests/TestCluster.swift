import FerryCore
import FerryMesh
import FerryTestSupport
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A local cluster of real processes: the upstream registry, `ferry leader`, and followers,
/// each follower with its own `dockerd` (or a Docker socket that does not exist, to test that
/// failure). Everything is torn down by ``stop()``.
final class TestCluster: @unchecked Sendable {
    struct Node {
        var name: String
        var directory: String
        var engine: TestDockerEngine?
        var dockerHost: String
        var process: BackgroundProcess?
        /// The network namespace the follower runs in, if any (its link can be cut).
        var jail: NetworkJail?
    }

    let dir: TemporaryDirectory
    let registry: TestRegistry
    let tokens: TokenServer?
    private(set) var leader: LeaderProcess
    private(set) var nodes: [String: Node] = [:]
    var leaderArguments: [String]
    /// Run by ``stop()`` before the directory goes (unmounting what a test mounted in it).
    var cleanups: [() async -> Void] = []

    private init(dir: TemporaryDirectory, registry: TestRegistry, tokens: TokenServer?, leader: LeaderProcess, leaderArguments: [String]) {
        self.dir = dir
        self.registry = registry
        self.tokens = tokens
        self.leader = leader
        self.leaderArguments = leaderArguments
    }

    static let user = "ferry"
    static let password = "cluster-Pa55"

    /// Starts a registry (with token auth when `tokenAuth`), a leader, and the followers.
    /// `engines` names the nodes that get a real `dockerd`; the others point at a missing socket.
    static func start(
        _ label: String, nodes names: [String], engines: Set<String>? = nil, tokenAuth: Bool = false, leaderArguments: [String] = [],
        prepareNode: (TestCluster, String) async throws -> Void = { _, _ in },
        jailed: [String: NetworkJail] = [:]
    ) async throws -> TestCluster {
        let dir = try TemporaryDirectory(label)
        var tokens: TokenServer?
        var registry: TestRegistry?
        do {
            var arguments = leaderArguments
            if tokenAuth {
                tokens = try await TokenServer.start(in: dir.path, user: user, password: password)
                registry = try await TestRegistry.start(in: dir.sub("registry"), auth: tokens!.registryAuth)
                let auth = dir.sub("registry-auth.json")
                try #"{"auths":{"\#(registry!.host)":{"username":"\#(user)","password":"\#(password)"}}}"#
                    .write(toFile: auth, atomically: true, encoding: .utf8)
                arguments += ["--registry-auth", auth]
            } else {
                registry = try await TestRegistry.start(in: dir.sub("registry"))
            }
            // Jailed followers reach the leader on their link's root-side address: it listens on
            // every address, with that one in its certificate.
            if !jailed.isEmpty { arguments += jailed.values.flatMap { ["--tls-name", $0.hostAddress] } }
            let leader = try await LeaderProcess.start(
                dataDirectory: dir.sub("leader"), host: jailed.isEmpty ? "127.0.0.1" : "0.0.0.0", extraArguments: arguments)
            let cluster = TestCluster(dir: dir, registry: registry!, tokens: tokens, leader: leader, leaderArguments: arguments)
            let withEngines = engines ?? Set(names)
            try await withThrowingTaskGroup(of: (String, TestDockerEngine?).self) { group in
                for (index, name) in names.enumerated() {
                    group.addTask {
                        withEngines.contains(name) ? (name, try await TestDockerEngine.start(in: dir.sub("d\(index)"), netns: jailed[name]?.name)) : (name, nil)
                    }
                }
                for try await (name, engine) in group {
                    cluster.nodes[name] = Node(
                        name: name, directory: dir.sub("node-\(name)"), engine: engine,
                        dockerHost: engine?.host ?? "unix://\(dir.sub("no-such-docker.sock"))", process: nil, jail: jailed[name])
                }
            }
            do {
                for name in names {
                    try await prepareNode(cluster, name)
                    try await cluster.startFollower(name)
                }
            } catch {
                await cluster.stop()
                throw error
            }
            return cluster
        } catch {
            await tokens?.stop()
            await registry?.stop()
            dir.remove()
            throw error
        }
    }

    var credentials: (String, String)? { tokens == nil ? nil : (Self.user, Self.password) }

    /// Generates and pushes an image to the registry; returns its reference.
    @discardableResult
    func push(_ repoTag: String, layers: [TestImages.Layer], busybox: Bool = true) async throws -> String {
        let reference = "\(registry.host)/\(repoTag)"
        try await TestImages.make(reference, in: dir.path, layers: layers, busybox: busybox, credentials: credentials)
        return reference
    }

    /// Starts (or restarts) a follower process; waits until it listens. `environment` is added
    /// to this process's (e.g. `FERRY_FAILPOINTS`).
    func startFollower(
        _ name: String, join: Bool = true, listen: String? = nil, extraArguments: [String] = [], environment: [String: String] = [:]
    ) async throws {
        guard var node = nodes[name] else { throw FerryError(.notFound, "no node \(name)") }
        try FileManager.default.createDirectory(atPath: node.directory, withIntermediateDirectories: true)
        let addressFile = "\(node.directory)/address"
        try? FileManager.default.removeItem(atPath: addressFile)
        let joinToken = leader.joinToken
        // A jailed follower listens on its namespace's address and reaches the leader across the link.
        let listen = listen ?? node.jail.map { "\($0.address):0" } ?? "127.0.0.1:0"
        let leaderURL = node.jail.map { "https://\($0.hostAddress):\(leader.port)" } ?? leader.url
        let arguments =
            ["follower", "--data-dir", node.directory, "--listen", listen, "--leader", leaderURL,
             "--name", name, "--docker-host", node.dockerHost, "--log-level", "debug"]
            + Self.handoffArguments + extraArguments
        let (executable, argv) = node.jail?.command(RepositoryLayout.ferryBinary, arguments) ?? (RepositoryLayout.ferryBinary, arguments)
        // The join token goes in the environment, never on the command line (`ps` shows that to everyone).
        var environment = environment
        if join, environment["FERRY_JOIN_TOKEN"] == nil { environment["FERRY_JOIN_TOKEN"] = joinToken }
        let process = try BackgroundProcess.spawn(executable, argv, logPath: "\(node.directory)/follower.log", environment: environment)
        node.process = process
        nodes[name] = node
        let deadline = ContinuousClock.now + .seconds(60)
        while ContinuousClock.now < deadline {
            if let text = try? String(contentsOfFile: addressFile, encoding: .utf8), !text.isEmpty { return }
            if kill(process.pid, 0) != 0 { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw FerryError(.internal, "follower \(name) did not start: \(process.log.suffix(2000))")
    }

    /// `FERRY_TEST_HANDOFF=pull|load` runs every follower with that Docker handoff, so that any
    /// suite (the fault suite's corrupt scenarios, say) runs with either.
    static var handoffArguments: [String] {
        ProcessInfo.processInfo.environment["FERRY_TEST_HANDOFF"].map { ["--handoff", $0] } ?? []
    }

    func killFollower(_ name: String, signal: Int32 = SIGKILL) async {
        guard let process = nodes[name]?.process else { return }
        process.signal(signal)
        await process.wait()
        nodes[name]?.process = nil
    }

    func killLeader() async {
        leader.process.signal(SIGKILL)
        await leader.process.wait()
    }

    /// Starts the leader again on its port: on its data directory, or on `dataDirectory` (a restored one).
    func restartLeader(environment: [String: String] = [:], dataDirectory: String? = nil) async throws {
        leader = try await LeaderProcess.start(
            dataDirectory: dataDirectory ?? leader.dataDirectory, host: leader.host, port: leader.port, extraArguments: leaderArguments,
            environment: environment)
    }

    func engine(_ name: String) -> TestDockerEngine { nodes[name]!.engine! }

    func followerLog(_ name: String) -> String {
        (try? String(contentsOfFile: "\(nodes[name]!.directory)/follower.log", encoding: .utf8)) ?? ""
    }

    /// The lines of the leader's and every follower's log that hold one of `messages`, each
    /// prefixed with whose it is: the timeline a failed timing check shows.
    func timeline(_ messages: [String]) -> String {
        let logs = [("leader", leader.process.log)] + nodes.keys.sorted().map { ($0, followerLog($0)) }
        return logs.flatMap { name, log in
            log.split(separator: "\n").filter { line in messages.contains { line.contains($0) } }.map { "\(name): \($0)" }
        }.joined(separator: "\n")
    }

    var admin: AdminClient { AdminClient(baseURL: leader.url, token: leader.token, caFile: leader.caFile) }

    /// Runs the `ferry` CLI against this cluster's leader.
    func ferry(_ arguments: [String]) async throws -> ProcessResult {
        try await runProcess(
            RepositoryLayout.ferryBinary, arguments, environment: ["FERRY_LEADER": leader.url, "FERRY_TOKEN": leader.token, "FERRY_CA": leader.caFile])
    }

    func stop() async {
        let processes = nodes.values.compactMap(\.process)
        await withTaskGroup(of: Void.self) { group in
            for process in processes { group.addTask { await process.stop() } }
            group.addTask { await self.leader.process.stop() }
        }
        await withTaskGroup(of: Void.self) { group in
            for node in nodes.values { if let engine = node.engine { group.addTask { await engine.stop() } } }
        }
        await registry.stop()
        await tokens?.stop()
        for cleanup in cleanups { await cleanup() }
        keepLogs()
        dir.remove()
    }

    /// With `FERRY_TEST_KEEP_LOGS=DIR`, the cluster's logs (every `*.log` below its directory:
    /// leader, followers, engines, registry) are copied to `DIR/`, under the cluster directory's name, before the
    /// directory is removed, to read what the nodes did in a run that failed.
    private func keepLogs() {
        guard let keep = ProcessInfo.processInfo.environment["FERRY_TEST_KEEP_LOGS"], !keep.isEmpty else { return }
        let root = URL(fileURLWithPath: dir.path)
        let target = URL(fileURLWithPath: keep).appendingPathComponent(root.lastPathComponent)
        guard let walk = FileManager.default.enumerator(atPath: root.path) else { return }
        for case let path as String in walk where path.hasSuffix(".log") {
            let destination = target.appendingPathComponent(path)
            try? FileManager.default.createDirectory(at: destination.deletingLastPathComponent(), withIntermediateDirectories: true)
            try? FileManager.default.copyItem(at: root.appendingPathComponent(path), to: destination)
        }
    }

    /// Runs `body` with a cluster that is torn down afterwards, whatever happens.
    static func with<T>(
        _ label: String, nodes: [String], engines: Set<String>? = nil, tokenAuth: Bool = false, leaderArguments: [String] = [],
        prepareNode: (TestCluster, String) async throws -> Void = { _, _ in },
        jailed: [String: NetworkJail] = [:],
        _ body: (TestCluster) async throws -> T
    ) async throws -> T {
        let cluster = try await start(
            label, nodes: nodes, engines: engines, tokenAuth: tokenAuth, leaderArguments: leaderArguments, prepareNode: prepareNode,
            jailed: jailed)
        do {
            let result = try await body(cluster)
            await cluster.stop()
            return result
        } catch {
            await cluster.stop()
            throw error
        }
    }
}
