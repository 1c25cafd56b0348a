import FerryCore
import FerryMesh
import FerryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The `ferry` binary as an operator uses it: exit codes, one-line errors, output formats.
@Suite("ferry CLI", .serialized)
struct CLITests {
    /// An error is one line on stderr, starting `ferry: error:`, with a non-zero exit.
    static func expectOneLineError(_ result: ProcessResult, containing text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(result.status != 0, sourceLocation: sourceLocation)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1, "stderr: \(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stderr.hasPrefix("ferry: error: "), "stderr: \(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stderr.contains(text), "stderr: \(result.stderr)", sourceLocation: sourceLocation)
    }

    @Test("A token file other users can read gets a one-line warning naming it and saying chmod 600; one only its owner can read, none")
    func openTokenFileWarns() async throws {
        try await withTemporaryDirectory("cli-token-mode") { dir in
            let file = dir.sub("token")
            #expect(FileManager.default.createFile(atPath: file, contents: Data("t\n".utf8), attributes: [.posixPermissions: 0o644]))
            let open = try await ferry(["nodes", "--leader", "http://127.0.0.1:9", "--token-file", file])
            let lines = open.stderr.split(separator: "\n")
            #expect(lines.count == 2 && lines[0].hasPrefix("ferry: warning: the admin token file '\(file)' is open to other users (mode 644)"), "\(open.stderr)")
            #expect(lines.first?.hasSuffix("chmod 600 it") == true, "\(open.stderr)")
            #expect(lines.last?.hasPrefix("ferry: error: ") == true, "the command goes on and fails on the unreachable leader: \(open.stderr)")
            try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file)
            let closed = try await ferry(["nodes", "--leader", "http://127.0.0.1:9", "--token-file", file])
            Self.expectOneLineError(closed, containing: "127.0.0.1:9")
            // The proxy refuses its vendor credentials open to others, in the same words.
            let auth = dir.sub("upstream-auth.json")
            #expect(FileManager.default.createFile(atPath: auth, contents: Data(#"{"auths":{}}"#.utf8), attributes: [.posixPermissions: 0o640]))
            let proxy = try await ferry(["proxy", "serve", "--data-dir", dir.sub("proxy"), "--listen", "127.0.0.1:0", "--upstream-auth", auth])
            Self.expectOneLineError(proxy, containing: "the --upstream-auth file '\(auth)' is open to other users (mode 640): anyone who reads it can use it; chmod 600 it")
            #expect(!FileManager.default.fileExists(atPath: dir.sub("proxy")), "refused before anything is written")
        }
    }

    @Test("Bad input gets a one-line error before anything is sent", arguments: [
        (["fetch", "--leader", "http://127.0.0.1:9", "--token", "t", "Bad//Ref"], "invalid image reference"),
        (["fetch", "--leader", "http://127.0.0.1:9", "--token", "t", "alpine:-bad"], "invalid image reference"),
        (["fetch", "--leader", "http://127.0.0.1:9", "--token", "t", "alpine@sha256:abc"], "invalid image reference"),
        (["fetch", "--leader", "http://127.0.0.1:9", "--token", "t", "--platform", "linux/", "alpine"], "invalid platform"),
        (["fetch", "alpine"], "no leader given"),
        (["fetch", "--leader", "not a url", "--token", "t", "alpine"], "invalid leader URL 'not a url'"),
        (["fetch", "--leader", "http://admin:s3cret@127.0.0.1:9", "--token", "t", "alpine"], "invalid leader URL (--leader): expected https://"),
        (["proxy", "licence", "list", "--proxy", "https://admin:s3cret@proxy.example", "--token", "t"], "it holds credentials"),
        (["proxy", "licence", "list", "--proxy", "ftp://proxy.example", "--token", "t"], "invalid --proxy URL 'ftp://proxy.example'"),
        (["images", "--data-dir", "/nonexistent/ferry"], "no leader is running with data directory '/nonexistent/ferry' (no such directory)"),
        (["leader", "--data-dir", "/tmp/ferry-cli-unused", "--listen", "nowhere"], "invalid --listen"),
        (["leader", "--data-dir", "/tmp/ferry-cli-unused", "--upstream-rate", "fast"], "invalid --upstream-rate: invalid rate 'fast'"),
        (["leader", "--data-dir", "/tmp/ferry-cli-unused", "--max-downloads", "0"], "invalid --max-downloads"),
        // A negative number after a space is the option's value, not an unknown option.
        (["leader", "--data-dir", "/tmp/ferry-cli-unused", "--max-downloads", "-2"], "invalid --max-downloads"),
        (["install", "--leader", "http://127.0.0.1:9", "--token", "t", "--max-parallel", "-1", "alpine"], "--max-parallel must be at least 1"),
        (["gc", "--leader", "http://127.0.0.1:9", "--token", "t", "--keep", "-3"], "--keep must be at least 1"),
        (["leader", "--data-dir", "/tmp/ferry-cli-unused", "--reserved-space", "-5"], "invalid --reserved-space: invalid size '-5'"),
        // Checked together before --print-config shows a configuration the daemon would refuse.
        (["leader", "--data-dir", "/tmp/ferry-cli-unused", "--gc-high-watermark", "70%", "--gc-low-watermark", "80%", "--print-config"],
         "the low watermark (80%) must be below the high watermark (70%)"),
        (["leader", "--data-dir", "/tmp/ferry-cli-unused", "--upstream-rate", "10"], "give a unit, e.g. 10MiB/s"),
        // An empty --nodes (an unset variable in a script) is not every node.
        (["install", "--leader", "http://127.0.0.1:9", "--token", "t", "--nodes", "", "alpine"], "--nodes needs node names"),
        (["install", "--leader", "http://127.0.0.1:9", "--token", "t", "--nodes", "a,,b", "alpine"], "--nodes needs node names"),
        (["install", "--leader", "http://127.0.0.1:9", "--token", "t", "--nodes", "a,all", "alpine"], "either all or node names"),
        (["install", "--leader", "http://127.0.0.1:9", "--token", "t", "--nodes", "a,b,a", "alpine"], "--nodes names 'a' twice"),
        (["install", "--leader", "http://127.0.0.1:9", "--token", "t", "--deadline", "soon", "alpine"], "invalid --deadline 'soon': expected e.g. 90s"),
        (["install", "--leader", "http://127.0.0.1:9", "--token", "t", "--deadline", "0m", "alpine"], "invalid --deadline '0m'"),
        // A valid deadline (a sum, as token --ttl takes) gets as far as the leader.
        (["install", "--leader", "http://127.0.0.1:9", "--token", "t", "--deadline", "1h30m", "alpine"], "cannot reach the leader"),
        (["leader", "--data-dir", "/tmp/ferry-cli-unused", "--listn", "127.0.0.1:0"], "Unknown option '--listn'. Did you mean '--listen'? (see 'ferry leader --help')"),
        (["leader", "--data-dir", "/tmp/ferry-cli-unused", "--log-level", "loud"], "one of the following: trace, debug, info, notice, warning, error (see"),
        (["follower", "--data-dir", "/tmp/ferry-cli-unused", "--leader", "https://127.0.0.1:9", "--default-registry", "https://reg.example"],
         "invalid --default-registry: 'https://reg.example' is not a registry host"),
        (["token", "revoke", "abc"], "'abc' is invalid"),
        (["leader", "--data-dir", "/dev/null/ferry", "--listen", "127.0.0.1:0"], "cannot create data directory '/dev/null/ferry': '/dev/null' is a file, not a directory"),
        (["leader", "--data-dir", "/tmp/ferry-cli-unused", "--listen", "nosuchhost.invalid:5050"], "cannot listen (--listen nosuchhost.invalid:5050): the host name does not resolve"),
        (["digest", "/nonexistent/file"], "cannot read '/nonexistent/file': no such file"),
        (["leader", "--data-dir", "/tmp/ferry-cli-unused", "--listen", "127.0.0.1:0", "--registry-auth", "/nonexistent.json"], "cannot read registry auth file"),
    ])
    func badInput(arguments: [String], message: String) async throws {
        try await withTemporaryDirectory("cli-bad") { dir in
            let arguments = arguments.map { $0 == "/tmp/ferry-cli-unused" ? dir.sub("data") : $0 }
            let result = try await ferry(arguments, environment: ["FERRY_LEADER": "", "FERRY_TOKEN": ""])
            Self.expectOneLineError(result, containing: message)
            // Refused before anything was written.
            #expect(!FileManager.default.fileExists(atPath: dir.sub("data/admin-token")))
        }
    }

    @Test("--help shows the help of the deepest command named, exit 0", arguments: [
        (["leader", "backup", "--help"], "USAGE: ferry leader --data-dir <data-dir> backup"),
        (["leader", "--data-dir", "/tmp/x", "restore", "-h"], "USAGE: ferry leader --data-dir <data-dir> restore"),
        (["leader", "--help"], "USAGE: ferry leader [<options>] --data-dir <data-dir> [backup | restore ...]"),
        (["nodes", "remove", "--help"], "USAGE: ferry nodes remove"),
        (["proxy", "licence", "create", "app", "--help"], "USAGE: ferry proxy licence create <app>"),
        (["rollout", "--help"], "USAGE: ferry rollout [start] [<options>] <image>"),
    ])
    func help(arguments: [String], usage: String) async throws {
        let result = try await ferry(arguments)
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains(usage), "\(result.stdout)")
        #expect(result.stderr.isEmpty)
    }

    @Test("A daemon whose port is taken says so in one line before it writes or joins anything: no leader data directory, no follower node")
    func busyPortChangesNothing() async throws {
        let busy = try SilentListener()
        defer { busy.close() }
        try await withTemporaryDirectory("cli-busy") { dir in
            let refused = try await ferryRefusal(["leader", "--data-dir", dir.sub("leader2"), "--listen", "127.0.0.1:\(busy.port)"])
            Self.expectOneLineError(refused, containing: "cannot listen (--listen 127.0.0.1:\(busy.port)): the address is in use")
            #expect(!FileManager.default.fileExists(atPath: dir.sub("leader2")), "the leader wrote its data directory")

            let leader = try await LeaderProcess.start(dataDirectory: dir.sub("leader"))
            defer { Task { await leader.process.stop() } }
            #expect(FileManager.default.createFile(atPath: dir.sub("join-token"), contents: Data(leader.joinToken.utf8), attributes: [.posixPermissions: 0o600]))
            for (flag, listen, registryPort) in [("--listen", "127.0.0.1:\(busy.port)", "0"), ("--local-registry-port", "127.0.0.1:0", "\(busy.port)")] {
                let follower = try await ferryRefusal([
                    "follower", "--data-dir", dir.sub("f"), "--leader", leader.url, "--join-token-file", dir.sub("join-token"), "--name", "ghost",
                    "--listen", listen, "--local-registry-port", registryPort, "--docker-host", dir.sub("no-docker.sock"),
                ])
                Self.expectOneLineError(follower, containing: "cannot listen (\(flag) 127.0.0.1:\(busy.port)): the address is in use")
            }
            let nodes = try await ferry(["nodes", "--leader", leader.url, "--token", leader.token, "--ca", leader.caFile])
            #expect(nodes.succeeded && !nodes.stdout.contains("ghost"), "the follower joined: \(nodes.stdout)")
            await leader.process.stop()
        }
    }

    @Test("A data directory given to the wrong daemon, a cluster without its database, a CA file that cannot be read, a follower without a join token: one line each, and nothing written or changed")
    func wrongDataDirectoriesChangeNothing() async throws {
        try await withTemporaryDirectory("cli-roles") { dir in
            let leader = try await LeaderProcess.start(dataDirectory: dir.sub("leader"))
            await leader.process.stop()
            let leaderFiles = try Self.snapshot(dir.sub("leader"))
            // A follower pointed at the leader's directory (a copy-pasted --data-dir).
            #expect(FileManager.default.createFile(atPath: dir.sub("join-token"), contents: Data(leader.joinToken.utf8), attributes: [.posixPermissions: 0o600]))
            let follower = try await ferryRefusal([
                "follower", "--data-dir", dir.sub("leader"), "--leader", "https://127.0.0.1:9", "--join-token-file", dir.sub("join-token"),
                "--name", "mixed", "--docker-host", dir.sub("no-docker.sock"),
            ])
            Self.expectOneLineError(follower, containing: "is a leader's data directory (it holds ca-key.pem)")
            #expect(try Self.snapshot(dir.sub("leader")) == leaderFiles, "the follower changed the leader's directory")
            // A leader pointed at a follower's.
            try FileManager.default.createDirectory(atPath: dir.sub("node"), withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
            try "{}".write(toFile: dir.sub("node/node.json"), atomically: true, encoding: .utf8)
            Self.expectOneLineError(
                try await ferryRefusal(["leader", "--data-dir", dir.sub("node"), "--listen", "127.0.0.1:0"]), containing: "is a follower's data directory (it holds node.json)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir.sub("node")) == ["node.json"])
            // The leader's database gone: no new, empty cluster under the old CA.
            try FileManager.default.removeItem(atPath: dir.sub("leader/state.db"))
            Self.expectOneLineError(
                try await ferryRefusal(["leader", "--data-dir", dir.sub("leader"), "--listen", "127.0.0.1:0"]), containing: "holds a cluster (its CA) but no state.db")
            #expect(!FileManager.default.fileExists(atPath: dir.sub("leader/state.db")))
            // Checked before the directory is made.
            Self.expectOneLineError(
                try await ferryRefusal(["leader", "--data-dir", dir.sub("new-leader"), "--listen", "127.0.0.1:0", "--ca-file", "/nonexistent.pem"]),
                containing: "/nonexistent.pem")
            #expect(!FileManager.default.fileExists(atPath: dir.sub("new-leader")))
            Self.expectOneLineError(
                try await ferryRefusal(["follower", "--data-dir", dir.sub("new-node"), "--leader", "https://127.0.0.1:9", "--name", "n", "--docker-host", dir.sub("no-docker.sock")]),
                containing: "this node has not joined the leader yet")
            Self.expectOneLineError(
                try await ferryRefusal([
                    "follower", "--data-dir", dir.sub("new-node"), "--leader", "https://127.0.0.1:9", "--name", "n", "--docker-host", dir.sub("no-docker.sock"),
                ], environment: ["FERRY_JOIN_TOKEN": "not-a-token"]),
                containing: "join token")
            #expect(!FileManager.default.fileExists(atPath: dir.sub("new-node")))
        }
    }

    /// Every file under `path` with its contents' digest.
    static func snapshot(_ path: String) throws -> [String: String] {
        var files: [String: String] = [:]
        for name in FileManager.default.subpaths(atPath: path) ?? [] {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: "\(path)/\(name)", isDirectory: &isDirectory), !isDirectory.boolValue else { continue }
            files[name] = Digest.sha256(of: Array(try Data(contentsOf: URL(fileURLWithPath: "\(path)/\(name)")))).description
        }
        return files
    }

    @Test("An unreachable leader and a wrong token are reported clearly")
    func unreachableLeaderAndWrongToken() async throws {
        let port = try freePort()
        Self.expectOneLineError(
            try await ferry(["fetch", "--leader", "http://127.0.0.1:\(port)", "--token", "t", "alpine"]), containing: "cannot reach the leader")
        try await withTemporaryDirectory("cli-token") { dir in
            let leader = try await LeaderProcess.start(dataDirectory: dir.sub("leader"))
            defer { Task { await leader.process.stop() } }
            Self.expectOneLineError(
                try await ferry(["images", "--leader", leader.url, "--token", "wrong", "--ca", leader.caFile]), containing: "refused the admin token")
            // Over TLS, the CLI needs the cluster CA, and says so.
            Self.expectOneLineError(try await ferry(["images", "--leader", leader.url, "--token", leader.token]), containing: "--ca")
            // The token files are private to the leader's user.
            let attributes = try FileManager.default.attributesOfItem(atPath: "\(leader.dataDirectory)/admin-token")
            #expect((attributes[.posixPermissions] as? Int) == 0o600)
            // A second leader on the same data directory is refused.
            Self.expectOneLineError(
                try await ferryRefusal(["leader", "--data-dir", leader.dataDirectory, "--listen", "127.0.0.1:0"]), containing: "another Ferry process")
            // Also on its own port: the running leader is named, not just a busy address.
            Self.expectOneLineError(
                try await ferryRefusal(["leader", "--data-dir", leader.dataDirectory, "--listen", "127.0.0.1:\(leader.port)"]), containing: "another Ferry process")
            await leader.process.stop()
        }
    }

    @Test("An admin token about to cross the network in clear (http:// to a host other than loopback) is warned about; loopback is not")
    func plainHTTPAdminURLIsWarnedAbout() async throws {
        let port = try freePort()
        let remote = try await ferry(["images", "--leader", "http://nosuchhost.invalid:\(port)", "--token", "t"])
        #expect(remote.status != 0)
        #expect(remote.stderr.hasPrefix("ferry: warning: --leader http://nosuchhost.invalid:\(port) is plain HTTP: the admin token crosses the network in clear"), "\(remote.stderr)")
        let proxy = try await ferry(["proxy", "licence", "list", "--proxy", "http://nosuchhost.invalid:\(port)/", "--token", "t"])
        #expect(proxy.status != 0)
        #expect(proxy.stderr.hasPrefix("ferry: warning: --proxy http://nosuchhost.invalid:\(port)/ is plain HTTP"), "\(proxy.stderr)")
        for loopback in ["http://127.0.0.1:\(port)", "http://LOCALHOST:\(port)", "http://[::1]:\(port)", "http://[0:0:0:0:0:0:0:1]:\(port)"] {
            Self.expectOneLineError(try await ferry(["images", "--leader", loopback, "--token", "t"]), containing: "cannot reach the leader")
        }
        // Loopback and https:// are not warned about for the proxy either.
        for quiet in ["http://127.0.0.1:\(port)", "https://nosuchhost.invalid:\(port)"] {
            Self.expectOneLineError(try await ferry(["proxy", "licence", "list", "--proxy", quiet, "--token", "t"]), containing: "cannot reach the proxy")
        }
        // A URL with a password in it is refused without being shown.
        let withPassword = try await ferry(["images", "--leader", "http://admin:s3cret@nosuchhost.invalid:\(port)", "--token", "t"])
        #expect(withPassword.status != 0 && !withPassword.stderr.contains("s3cret"), "\(withPassword.stderr)")
        // Named by where the URL came from.
        let fromEnvironment = try await ferry(["images", "--token", "t"], environment: ["FERRY_LEADER": "http://nosuchhost.invalid:\(port)"])
        #expect(fromEnvironment.stderr.hasPrefix("ferry: warning: FERRY_LEADER http://nosuchhost.invalid"), "\(fromEnvironment.stderr)")
    }

    @Test("fetch shows progress, exits 0 when held, 1 with the reason when not; images lists what is held")
    func fetchAndImages() async throws {
        try await withTemporaryDirectory("cli-fetch") { dir in
            try await TestRegistry.with(in: dir.sub("registry")) { registry in
                try await TestImages.make("\(registry.host)/demo/cli:1", in: dir.path, layers: [.init("c1", "2M")], busybox: true)
                let leader = try await LeaderProcess.start(dataDirectory: dir.sub("leader"))
                do {
                    let ok = try await ferry(["fetch", "--data-dir", leader.dataDirectory, "\(registry.host)/demo/cli:1"])
                    #expect(ok.status == 0, "\(ok.stderr)")
                    #expect(ok.stdout.contains("resolved sha256:"))
                    #expect(ok.stdout.contains("\(registry.host)/demo/cli:1: present sha256:"))

                    let failed = try await ferry(["fetch", "--leader", leader.url, "--token", leader.token, "--ca", leader.caFile, "\(registry.host)/demo/cli:nope"])
                    Self.expectOneLineError(failed, containing: "not found")

                    // No image at all is a usage error.
                    let empty = try await ferry(["fetch", "--data-dir", leader.dataDirectory])
                    #expect(empty.status != 0)

                    let machine = try await ferry(
                        ["fetch", "--json", "\(registry.host)/demo/cli:1"], environment: ["FERRY_LEADER": leader.url, "FERRY_TOKEN": leader.token, "FERRY_CA": leader.caFile])
                    #expect(machine.status == 0)
                    let decoded = try FerryJSON.decoder().decode(FetchResponse.self, from: Data(machine.stdout.utf8))
                    #expect(decoded.images.first?.state == .present)
                    #expect(decoded.images.first?.blobs?.count == 3)

                    let list = try await ferry(["images", "--data-dir", leader.dataDirectory])
                    #expect(list.status == 0)
                    #expect(list.stdout.contains("REFERENCE"))
                    #expect(list.stdout.contains("\(registry.host)/demo/cli:1"))
                    #expect(list.stdout.contains("linux/"))
                    let listJSON = try await ferry(["images", "--json", "--data-dir", leader.dataDirectory])
                    let images = try FerryJSON.decoder().decode(ImageList.self, from: Data(listJSON.stdout.utf8))
                    #expect(images.images.filter { $0.state == .present }.count == 1)
                    #expect(images.images.filter { $0.state == .failed }.count == 1)
                    await leader.process.stop()
                } catch {
                    await leader.process.stop()
                    throw error
                }
            }
        }
    }

    @Test("A leader killed with SIGKILL mid-fetch resumes on restart without fetching again what it had")
    func killedLeaderResumes() async throws {
        try await withTemporaryDirectory("cli-kill") { dir in
            try await TestRegistry.with(in: dir.sub("registry")) { registry in
                try await TestImages.make("\(registry.host)/demo/big:1", in: dir.path, layers: [.init("k1", "12M"), .init("k2", "4M")])
                var plan = FaultProxy.Plan()
                plan.blobRate = 4 * 1024 * 1024
                let proxy = try await FaultProxy.start(upstream: registry.url, plan: plan)
                defer { Task { await proxy.stop() } }
                let reference = "\(proxy.host)/demo/big:1"
                var leader = try await LeaderProcess.start(dataDirectory: dir.sub("leader"))
                let client = AdminClient(baseURL: leader.url, token: leader.token, caFile: leader.caFile)
                let accepted = try await client.fetch(FetchRequest(images: [reference]))
                let id = try #require(accepted.images.first?.id)
                // Wait until a good part of the image has arrived, then kill the leader outright.
                try await waitUntil("the leader holds 6 MiB", timeout: .seconds(120), every: .milliseconds(50)) {
                    try await client.image(id: id).bytesDone >= 6 * 1024 * 1024
                }
                leader.process.signal(SIGKILL)
                #expect(await leader.process.wait() == 128 + SIGKILL)
                let servedBeforeKill = proxy.blobBytesServed

                proxy.update { $0.blobRate = nil }
                leader = try await LeaderProcess.start(dataDirectory: leader.dataDirectory, port: leader.port)
                let restarted = AdminClient(baseURL: leader.url, token: leader.token, caFile: leader.caFile)
                let deadline = ContinuousClock.now + .seconds(60)
                var status = try await restarted.image(id: id)
                while !status.isFinished && ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(100))
                    status = try await restarted.image(id: id)
                }
                #expect(status.state == .present, "\(status.error?.message ?? "") \(leader.process.log.suffix(1500))")
                // Resumed, not restarted: beyond one copy, upstream resent at most what the killed
                // process held in memory (a write buffer of 1 MiB per blob in flight) or in transit.
                let total = try #require(try await TestRegistry.blobSizes(of: proxy, reference: reference))
                #expect(servedBeforeKill > 4 * 1024 * 1024)
                #expect(proxy.blobBytesServed < total + 3 * 1024 * 1024, "served \(proxy.blobBytesServed) for \(total)")
                #expect(proxy.blobBytesServed < total + servedBeforeKill / 2, "a restart from zero would resend everything")
                #expect(proxy.requests.contains { $0.range != nil && $0.status == 206 })
                // The restarted leader asked for the rest of a blob it had begun, not the whole.
                #expect(proxy.requests.contains { $0.start > 0 && $0.status == 206 }, "\(proxy.requests.map { "\($0.range ?? "-") \($0.status)" })")
                await leader.process.stop()
            }
        }
    }
}
