import FerryCore
import FerryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The `--database` URL forms beyond TCP without TLS, against the real server of ``TestPostgres``:
/// a unix socket, and TLS (`sslmode=require`) with a self-signed certificate.
extension ProxyPostgresTests {
    @Test("--database over a unix socket (postgres://USER@/DB?host=DIR&port=PORT): the replica starts, manages and serves")
    func connectsOverAUnixSocket() async throws {
        try await TestPostgres.with("proxy-pg-socket") { postgres in
            let dir = try TemporaryDirectory("proxy-pg-socket")
            defer { dir.remove() }
            // The server's socket directory (`-k`); local connections are trusted (no password).
            let url = "postgres://\(TestPostgres.user)@/\(TestPostgres.database)?host=\(postgres.directory.path)&port=\(postgres.port)"
            try await Self.expectAReplicaServes(dir, database: url)
            #expect(
                (try? String(contentsOfFile: dir.sub("a/database"), encoding: .utf8))?.contains("?host=\(postgres.directory.path)&port=\(postgres.port)") != false)
        }
    }

    @Test("sslmode=require against a server with TLS on: the replica connects over TLS (pg_stat_ssl) with sslrootcert; without it the certificate is refused in one line")
    func requiresTLS() async throws {
        try await TestPostgres.with("proxy-pg-tls") { postgres in
            let dir = try TemporaryDirectory("proxy-pg-tls")
            defer { dir.remove() }
            let certificate = try await Self.enableTLS(postgres)
            let tcp = "postgres://\(TestPostgres.user):\(postgres.password)@127.0.0.1:\(postgres.port)/\(TestPostgres.database)?sslmode=require"
            try await Self.expectAReplicaServes(dir, database: "\(tcp)&sslrootcert=\(certificate)") {
                // The replica's connections to the server are encrypted (seen from the server).
                try await waitUntil("the replica's connection to be TLS in pg_stat_ssl") {
                    let count = try await runChecked("/usr/bin/psql", [
                        "-h", postgres.directory.path, "-p", String(postgres.port), "-U", TestPostgres.user, "-d", TestPostgres.database, "-tAc",
                        "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE s.ssl AND a.client_addr IS NOT NULL",
                    ])
                    return (Int(count.trimmingWhitespace()) ?? 0) > 0
                }
            }
            // Without the certificate as a root, the self-signed server is not trusted.
            let refused = try await Self.startFails(dir, "untrusted", database: tcp)
            #expect(refused.contains("TLS handshake failed"), "\(refused)")
            #expect(!refused.contains(postgres.password))
        }
    }

    @Test("sslmode=require against a server without TLS: one line that says so, non-zero exit")
    func requireAgainstAServerWithoutTLSFails() async throws {
        try await TestPostgres.with("proxy-pg-notls") { postgres in
            let dir = try TemporaryDirectory("proxy-pg-notls")
            defer { dir.remove() }
            let url = "postgres://\(TestPostgres.user):\(postgres.password)@127.0.0.1:\(postgres.port)/\(TestPostgres.database)?sslmode=require"
            let refused = try await Self.startFails(dir, "plain", database: url)
            #expect(refused.contains("cannot use the proxy database postgres://ferry@127.0.0.1:\(postgres.port)/postgres"), "\(refused)")
            #expect(refused.contains("the server does not offer TLS (sslmode=require)"), "\(refused)")
            #expect(!refused.contains(postgres.password))
        }
    }

    /// Starts replica `a` on `database` (`FERRY_DATABASE`), adds an app and a licence through it,
    /// checks the licence on `/v2/` (a query per request), runs `more`, and stops the replica.
    static func expectAReplicaServes(_ dir: TemporaryDirectory, database: String, _ more: () async throws -> Void = {}) async throws {
        let auth = dir.sub("upstream.json")
        #expect(FileManager.default.createFile(atPath: auth, contents: Data(#"{"auths":{}}"#.utf8), attributes: [.posixPermissions: 0o600]))
        let replica = try await startReplica(dir, "a", upstreamAuth: auth, environment: ["FERRY_DATABASE": database])
        do {
            try await replica.manage(["app", "add", "shop", "--registry", "vendor=127.0.0.1:9"])
            let created = try JSONDecoder().decode(
                ProxyFixture.Created.self, from: Data(try await replica.manage(["licence", "create", "shop", "--customer", "acme", "--json"]).utf8))
            #expect(try await replica.request("GET", "/v2/", authorization: basic(created.licenceID)).status == 200)
            #expect(try await replica.request("GET", "/v2/", authorization: basic("ferrylic_" + String(repeating: "0", count: 64))).status == 401)
            try await more()
        } catch {
            await replica.process.stop()
            throw error
        }
        await replica.process.stop()
    }

    /// Runs `ferry proxy serve` on `database`, expecting it to fail at start with one line; that line.
    static func startFails(_ dir: TemporaryDirectory, _ name: String, database: String) async throws -> String {
        let started = ContinuousClock.now
        let result = try await ferry(["proxy", "serve", "--data-dir", dir.sub(name), "--listen", "127.0.0.1:0"], environment: ["FERRY_DATABASE": database])
        #expect(result.status != 0, "\(result.stdout)")
        #expect(result.stderr.split(separator: "\n", omittingEmptySubsequences: true).count == 1, "\(result.stderr)")
        #expect(ContinuousClock.now - started < .seconds(30))
        return result.stderr
    }

    /// Turns TLS on in `postgres` (stopped and started again): a self-signed certificate for
    /// 127.0.0.1 made with openssl, `ssl = on` in its postgresql.conf. Returns the certificate's path.
    static func enableTLS(_ postgres: TestPostgres) async throws -> String {
        let (certificate, key) = (postgres.directory.sub("server.crt"), postgres.directory.sub("server.key"))
        try await runChecked("/usr/bin/openssl", [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
            "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", certificate,
        ])
        // The server refuses a key others may read; it runs as `postgres` when the tests run as root.
        chmod(key, 0o600)
        if getuid() == 0, let account = getpwnam("postgres") {
            for path in [certificate, key] { chown(path, account.pointee.pw_uid, account.pointee.pw_gid) }
        }
        try await postgres.pause()
        let configuration = postgres.directory.sub("data/postgresql.conf")
        let handle = try #require(FileHandle(forWritingAtPath: configuration))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("\nssl = on\nssl_cert_file = '\(certificate)'\nssl_key_file = '\(key)'\n".utf8))
        try handle.close()
        try await postgres.resume()
        return certificate
    }
}
