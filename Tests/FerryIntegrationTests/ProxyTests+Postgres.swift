import FerryCore
import FerryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `ferry proxy serve --database postgres://…`: two replicas sharing a real PostgreSQL server
/// (Debian's `postgresql`, started by ``TestPostgres``) in front of the vendor's real
/// `docker-registry` with htpasswd auth.
@Suite("Vendor proxy replicas on PostgreSQL", .serialized, .enabled(if: TestPostgres.missing == nil, "no PostgreSQL server (/usr/lib/postgresql/*/bin/pg_ctl): make deps installs Debian's postgresql"))
struct ProxyPostgresTests {
    /// One `ferry proxy serve` process.
    struct Replica {
        var process: BackgroundProcess
        var dataDirectory: String
        var url: String
        var host: String { String(url.dropFirst("http://".count)) }
        var adminTokenFile: String { dataDirectory + "/admin-token" }

        /// Runs `ferry proxy ARGS` against this replica's admin API; its standard output.
        @discardableResult
        func manage(_ arguments: [String]) async throws -> String {
            let result = try await ferry(["proxy"] + arguments + ["--proxy", url, "--token-file", adminTokenFile])
            guard result.succeeded else { throw FerryError(.internal, "ferry proxy \(arguments.joined(separator: " ")) failed: \(result.stderr)") }
            return result.stdout
        }

        func request(_ method: String, _ path: String, authorization: String?) async throws -> RawHTTPResponse {
            let credential = authorization.map { "Authorization: \($0)\r\n" } ?? ""
            let text = "\(method) \(path) HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n\(credential)\r\n"
            guard let response = try await RawHTTPConnection.exchange(url: url, text, head: method == "HEAD") else {
                throw FerryError(.internal, "no response to \(method) \(path)")
            }
            return response
        }
    }

    /// Starts `ferry proxy serve` with `environment` (and `arguments`) and waits for it to listen.
    static func startReplica(_ dir: TemporaryDirectory, _ name: String, upstreamAuth: String, arguments: [String] = [], environment: [String: String] = [:])
        async throws -> Replica
    {
        let data = dir.sub(name)
        let process = try BackgroundProcess.spawn(
            RepositoryLayout.ferryBinary,
            ["proxy", "serve", "--data-dir", data, "--listen", "127.0.0.1:0", "--upstream-auth", upstreamAuth, "--log-level", "trace"] + arguments,
            logPath: dir.sub("\(name).log"), environment: environment)
        var url: String?
        do {
            try await waitUntil("proxy replica \(name) to listen") {
                url = (try? String(contentsOfFile: data + "/address", encoding: .utf8))?.trimmingWhitespace()
                if url?.isEmpty == false { return true }
                guard kill(process.pid, 0) == 0 else { throw FerryError(.internal, "ferry proxy serve (\(name)) exited: \(process.log.suffix(2000))") }
                return false
            }
        } catch {
            await process.stop()
            throw error
        }
        return Replica(process: process, dataDirectory: data, url: url!)
    }

    static func basic(_ licence: String) -> String { "Basic " + Data("customer:\(licence)".utf8).base64EncodedString() }

    @Test("Two replicas share PostgreSQL: a licence made on A pulls through B, B's revoke is refused by A within 10 s, one audit, shared tokens, no password anywhere")
    func replicasShareState() async throws {
        try await TestPostgres.with("proxy-pg") { postgres in
            let dir = try TemporaryDirectory("proxy-pg-replicas")
            defer { dir.remove() }
            let upstreamPassword = "upstream-" + UUID().uuidString.lowercased()
            let registry = try await TestRegistry.start(in: dir.sub("registry"), auth: .htpasswd(user: ProxyFixture.user, password: upstreamPassword))
            var replicas: [Replica] = []
            do {
                try await TestImages.make(
                    "\(registry.host)/\(ProxyFixture.app)", in: dir.path, layers: [.init("pa", "1M")], busybox: true,
                    credentials: (ProxyFixture.user, upstreamPassword))
                let auth = dir.sub("upstream.json")
                let entry = Data("\(ProxyFixture.user):\(upstreamPassword)".utf8).base64EncodedString()
                #expect(FileManager.default.createFile(
                    atPath: auth, contents: Data(#"{"auths":{"\#(registry.host)":{"auth":"\#(entry)"}}}"#.utf8), attributes: [.posixPermissions: 0o600]))
                // A takes the URL from the environment, B from its configuration file's `database` key.
                let a = try await Self.startReplica(dir, "a", upstreamAuth: auth, environment: ["FERRY_DATABASE": postgres.url])
                replicas.append(a)
                let config = dir.sub("proxy.toml")
                #expect(FileManager.default.createFile(atPath: config, contents: Data("database = \"\(postgres.url)\"\n".utf8), attributes: [.posixPermissions: 0o600]))
                let b = try await Self.startReplica(dir, "b", upstreamAuth: auth, arguments: ["--config", config])
                replicas.append(b)
                // Both replicas hold the same admin token and token key (the first one's, from the database).
                for file in ["admin-token", "token-key"] {
                    #expect(FileManager.default.contents(atPath: "\(a.dataDirectory)/\(file)") == FileManager.default.contents(atPath: "\(b.dataDirectory)/\(file)"), "\(file)")
                }

                // The app and the licence are made through A's admin API; B serves them.
                try await a.manage(["app", "add", "shop", "--registry", "vendor=\(registry.host)", "--images", "vendor/team/**"])
                // The customer's name is SQL-hostile text: bound as a parameter, it is stored and shown as given.
                let customer = #"acme'); DROP TABLE licences; -- "quoted" \ $1"#
                let created = try JSONDecoder().decode(
                    ProxyFixture.Created.self, from: Data(try await a.manage(["licence", "create", "shop", "--customer", customer, "--json"]).utf8))
                #expect(created.licence.customer == customer)
                let listed = try JSONDecoder().decode([ProxyFixture.Created.Printed].self, from: Data(try await b.manage(["licence", "list", "--json"]).utf8))
                #expect(listed.map(\.customer) == [customer])
                let licence = created.licenceID
                try await ProxyTests.skopeo(["--src-creds", "x:\(licence)", "docker://\(b.host)/proxy/shop/vendor/\(ProxyFixture.app)", "dir:\(dir.sub("through-b"))"])
                let manifest = "/v2/proxy/shop/vendor/team/app/manifests/1.4"
                let throughA = try await a.request("GET", manifest, authorization: Self.basic(licence))
                #expect(throughA.status == 200, "\(throughA.text)")

                // A token issued by A is accepted by B.
                let token = try await a.request("GET", "/token?service=ferry-proxy&scope=repository:proxy/shop/vendor/team/app:pull", authorization: Self.basic(licence))
                struct Token: Decodable { var token: String }
                let bearer = try JSONDecoder().decode(Token.self, from: Data(token.body)).token
                let withToken = try await b.request("GET", manifest, authorization: "Bearer \(bearer)")
                #expect(withToken.status == 200, "\(withToken.text)")

                // The audit of pulls through both replicas, the same from either: the manifest
                // through skopeo on B, plain on A, by token on B; the image's blobs through B.
                struct Row: Decodable { var manifests: Int; var blobs: Int }
                var usage: [String: [Row]] = [:]
                for replica in [a, b] {
                    usage[replica.url] = try JSONDecoder().decode([Row].self, from: Data(try await replica.manage(["usage", "--json"]).utf8))
                }
                let fromA = try #require(usage[a.url]), fromB = try #require(usage[b.url])
                #expect(fromA.map(\.manifests) == fromB.map(\.manifests) && fromA.map(\.blobs) == fromB.map(\.blobs))
                #expect(fromA.reduce(0) { $0 + $1.manifests } >= 3, "manifests through A and B: \(fromA)")
                #expect(fromA.reduce(0) { $0 + $1.blobs } >= 2, "config and layers through B: \(fromA)")

                // The vendor's registry down: B's tag list comes from the tags PostgreSQL recorded
                // (B's store holds the manifest skopeo pulled through it).
                await registry.stop()
                let tags = try await b.request("GET", "/v2/proxy/shop/vendor/team/app/tags/list", authorization: Self.basic(licence))
                #expect(tags.status == 200 && tags.text.contains(#""tags":["1.4"]"#), "\(tags.statusLine) \(tags.text)")

                // Revoked through B (its --data-dir: the running replica's admin API), refused by A within 10 s.
                let revoked = try await ferry(["proxy", "licence", "revoke", String(created.licence.id), "--data-dir", b.dataDirectory])
                #expect(revoked.succeeded, "\(revoked.stderr)")
                try await waitUntil("replica A to refuse the licence revoked through B", timeout: .seconds(10), every: .milliseconds(200)) {
                    let response = try await a.request("GET", manifest, authorization: Self.basic(licence))
                    return response.status == 403 && response.text.contains("licence revoked")
                }
                #expect(try await b.request("GET", manifest, authorization: "Bearer \(bearer)").status == 403)

                // The database password is in no log, /metrics, response or data-directory file of either replica.
                let adminToken = try String(contentsOfFile: a.adminTokenFile, encoding: .utf8).trimmingWhitespace()
                var seen = [throughA, token, withToken]
                for replica in [a, b] {
                    let metrics = try await replica.request("GET", "/metrics", authorization: "Bearer \(adminToken)")
                    #expect(metrics.status == 200)
                    seen.append(metrics)
                    let log = replica.process.log
                    #expect(!log.isEmpty && !ProxyFixture.holds(Data(log.utf8), postgres.password), "\(replica.url)'s log holds the database password")
                    #expect(ProxyFixture.filesHolding([postgres.password], under: replica.dataDirectory).isEmpty)
                }
                for response in seen {
                    let bytes = Data(response.body) + Data(response.headers.map { "\($0): \($1)\n" }.joined().utf8)
                    #expect(!ProxyFixture.holds(bytes, postgres.password))
                }

                // Stopped, a PostgreSQL-backed proxy's --data-dir says how to manage it instead.
                await a.process.stop()
                let stopped = try await ferry(["proxy", "licence", "list", "--data-dir", a.dataDirectory])
                #expect(!stopped.succeeded && stopped.stderr.contains("--proxy URL"), "\(stopped.stderr)")
                #expect(!stopped.stderr.contains(postgres.password))
            } catch {
                for replica in replicas { await replica.process.stop() }
                await registry.stop()
                throw error
            }
            for replica in replicas { await replica.process.stop() }
            await registry.stop()
        }
    }

    @Test("An unreachable database, a wrong password or a malformed URL: one line, non-zero exit at start, no password shown")
    func badDatabaseFailsAtStart() async throws {
        try await TestPostgres.with("proxy-pg-bad") { postgres in
            let dir = try TemporaryDirectory("proxy-pg-bad")
            defer { dir.remove() }
            let secret = "pw-" + UUID().uuidString.lowercased()
            let cases: [(url: String, says: String)] = [
                ("postgres://ferry:\(secret)@127.0.0.1:\(try freePort())/postgres?sslmode=disable", "cannot use the proxy database postgres://ferry@127.0.0.1"),
                ("postgres://ferry:\(secret)@127.0.0.1:\(postgres.port)/postgres?sslmode=disable", "password authentication failed"),
                ("postgres://ferry:\(secret)@127.0.0.1:\(postgres.port)", "no database name"),
                ("postgres//ferry:\(secret)@127.0.0.1/postgres", "invalid --database URL"),
            ]
            // A database a newer Ferry migrated: refused, nothing applied.
            try await postgres.sql(
                "CREATE TABLE ferry_proxy_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now()); INSERT INTO ferry_proxy_migrations (name) VALUES ('proxy-v999: from the future')")
            let allCases = cases + [(postgres.url, "written by a newer Ferry (it holds the migration 'proxy-v999: from the future'")]
            for (index, bad) in allCases.enumerated() {
                let started = ContinuousClock.now
                let result = try await ferry(
                    ["proxy", "serve", "--data-dir", dir.sub("data-\(index)"), "--listen", "127.0.0.1:0"], environment: ["FERRY_DATABASE": bad.url])
                let elapsed = ContinuousClock.now - started
                #expect(result.status != 0, "\(bad.says): \(result.stdout)")
                let lines = result.stderr.split(separator: "\n", omittingEmptySubsequences: true)
                #expect(lines.count == 1 && result.stderr.contains(bad.says), "\(bad.says): \(result.stderr)")
                #expect(!result.stderr.contains(secret) && !result.stdout.contains(secret))
                #expect(!result.stderr.contains(postgres.password) && !result.stdout.contains(postgres.password))
                #expect(elapsed < .seconds(30), "\(bad.says): took \(elapsed)")
            }
            // The refused database is as it was: no migration of this version applied.
            try await postgres.sql(
                "DO $$ BEGIN IF (SELECT count(*) FROM ferry_proxy_migrations) <> 1 OR to_regclass('licences') IS NOT NULL THEN RAISE EXCEPTION 'migrated'; END IF; END $$")
        }
    }

    @Test("The database goes away while a replica runs: requests and /readyz answer 503 BUSY (no hang, nothing about the server), /healthz 200; all pull again once it is back")
    func databaseOutage() async throws {
        try await TestPostgres.with("proxy-pg-outage") { postgres in
            let dir = try TemporaryDirectory("proxy-pg-outage")
            defer { dir.remove() }
            let auth = dir.sub("upstream.json")
            #expect(FileManager.default.createFile(atPath: auth, contents: Data(#"{"auths":{}}"#.utf8), attributes: [.posixPermissions: 0o600]))
            let replica = try await Self.startReplica(dir, "a", upstreamAuth: auth, environment: ["FERRY_DATABASE": postgres.url])
            do {
                try await replica.manage(["app", "add", "shop", "--registry", "vendor=127.0.0.1:9"])
                let created = try JSONDecoder().decode(
                    ProxyFixture.Created.self, from: Data(try await replica.manage(["licence", "create", "shop", "--customer", "acme", "--json"]).utf8))
                #expect(try await replica.request("GET", "/v2/", authorization: Self.basic(created.licenceID)).status == 200)

                try await postgres.pause()
                let started = ContinuousClock.now
                let down = try await replica.request("GET", "/v2/", authorization: Self.basic(created.licenceID))
                #expect(down.status == 503 && down.errorCodes == ["BUSY"], "\(down.status) \(down.text)")
                #expect(ContinuousClock.now - started < .seconds(45), "answered after \(ContinuousClock.now - started)")
                #expect(!down.text.contains("127.0.0.1:\(postgres.port)") && !ProxyFixture.holds(Data(down.body), postgres.password), "\(down.text)")
                // A load balancer's readiness check sees it within ProxyPostgresDatabase.readinessTimeout; the process is alive.
                let probing = ContinuousClock.now
                let notReady = try await replica.request("GET", "/readyz", authorization: nil)
                #expect(notReady.status == 503 && notReady.errorCodes == ["BUSY"], "\(notReady.status) \(notReady.text)")
                #expect(ContinuousClock.now - probing < .seconds(8), "readiness answered after \(ContinuousClock.now - probing)")
                #expect(!notReady.text.contains("127.0.0.1:\(postgres.port)"), "\(notReady.text)")
                #expect(try await replica.request("GET", "/healthz", authorization: nil).status == 200)

                try await postgres.resume()
                try await waitUntil("the replica to use the database again") {
                    try await replica.request("GET", "/v2/", authorization: Self.basic(created.licenceID)).status == 200
                }
                #expect(try await replica.request("GET", "/readyz", authorization: nil).status == 200)
                #expect(!ProxyFixture.holds(Data(replica.process.log.utf8), postgres.password))
            } catch {
                await replica.process.stop()
                throw error
            }
            await replica.process.stop()
        }
    }
}
