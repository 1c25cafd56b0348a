import FerryCore
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A real PostgreSQL server from Debian's `postgresql` package (`initdb`, `pg_ctl`), run as the
/// `postgres` system user when the tests run as root (the server refuses root), on a loopback
/// port with password (SCRAM) authentication for the role `ferry`. Its data lives in a temporary
/// directory removed by ``stop()``.
public struct TestPostgres: Sendable {
    public static let user = "ferry"
    public static let database = "postgres"

    public let directory: TemporaryDirectory
    public let port: Int
    /// The password of the role `ferry` (random per server).
    public let password: String
    let binaries: String
    let runAs: String?

    /// `postgres://ferry:PASSWORD@127.0.0.1:PORT/postgres?sslmode=disable`.
    public var url: String { "postgres://\(Self.user):\(password)@127.0.0.1:\(port)/\(Self.database)?sslmode=disable" }
    var dataDirectory: String { directory.sub("data") }

    /// The directory holding `initdb` and `pg_ctl` (the newest `/usr/lib/postgresql/<version>/bin`), or nil.
    public static var binaries: String? {
        let root = "/usr/lib/postgresql"
        let versions = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).compactMap(Int.init).sorted()
        return versions.reversed().map { "\(root)/\($0)/bin" }.first { FileManager.default.isExecutableFile(atPath: $0 + "/pg_ctl") }
    }

    /// Why the PostgreSQL tests cannot run here, or nil.
    public static var missing: String? {
        binaries == nil ? "the PostgreSQL server is not installed (/usr/lib/postgresql/*/bin/pg_ctl): `make deps` installs Debian's postgresql" : nil
    }

    /// Initialises and starts a server; throws (after cleaning up) if it does not come up.
    public static func start(_ label: String = "ferry-pg") async throws -> TestPostgres {
        guard let binaries else { throw FerryError(.configuration, missing ?? "no PostgreSQL") }
        let runAs: String? = getuid() == 0 ? "postgres" : nil
        // The free port can be taken by another test between the probe and the server's bind:
        // then again on another port.
        for attempt in 1...3 {
            let directory = try TemporaryDirectory(label)
            let server = TestPostgres(
                directory: directory, port: try freePort(), password: "pg-" + UUID().uuidString.lowercased(), binaries: binaries, runAs: runAs)
            do {
                try await server.initialise()
                try await server.resume()
                return server
            } catch {
                let log = (try? String(contentsOfFile: directory.sub("postgres.log"), encoding: .utf8)) ?? ""
                directory.remove()
                if attempt < 3, log.contains("Address already in use") { continue }
                throw FerryError(.internal, "PostgreSQL did not start: \(error) \(log.suffix(2000))")
            }
        }
        throw FerryError(.internal, "PostgreSQL did not start")
    }

    /// `initdb` with the superuser `ferry` and its password, SCRAM on TCP; the directory is given
    /// to the user the server runs as.
    func initialise() async throws {
        let passwordFile = directory.sub("password")
        guard FileManager.default.createFile(atPath: passwordFile, contents: Data((password + "\n").utf8), attributes: [.posixPermissions: 0o600]) else {
            throw FerryError(.internal, "cannot write \(passwordFile)")
        }
        if let runAs {
            guard let account = getpwnam(runAs) else { throw FerryError(.configuration, "no user '\(runAs)' to run PostgreSQL as") }
            for path in [directory.path, passwordFile] { chown(path, account.pointee.pw_uid, account.pointee.pw_gid) }
        }
        try await run("initdb", [
            "-D", dataDirectory, "-U", Self.user, "--pwfile", passwordFile, "--auth-host", "scram-sha-256", "--auth-local", "trust",
            "-E", "UTF8", "--no-sync",
        ])
    }

    /// Runs one of the server's programs as the server's user.
    func run(_ program: String, _ arguments: [String]) async throws {
        if let runAs {
            try await runChecked("/usr/sbin/runuser", ["-u", runAs, "--", "\(binaries)/\(program)"] + arguments)
        } else {
            try await runChecked("\(binaries)/\(program)", arguments)
        }
    }

    /// Runs one SQL statement with `psql` as the superuser, over the server's Unix socket.
    public func sql(_ statement: String) async throws {
        try await run("psql", ["-h", directory.path, "-p", "\(port)", "-U", Self.user, "-d", Self.database, "-v", "ON_ERROR_STOP=1", "-c", statement])
    }

    /// Starts the (initialised) server on its port and waits until it accepts connections.
    public func resume() async throws {
        try await run("pg_ctl", [
            "-D", dataDirectory, "-l", directory.sub("postgres.log"), "-w", "-t", "60",
            "-o", "-p \(port) -k \(directory.path) -c listen_addresses=127.0.0.1", "start",
        ])
    }

    /// Stops the server (fast shutdown: connections are closed), keeping its data for ``resume()``.
    public func pause() async throws {
        try await run("pg_ctl", ["-D", dataDirectory, "-m", "fast", "-w", "-t", "30", "stop"])
    }

    /// Stops the server (fast shutdown) and removes its files.
    public func stop() async {
        try? await run("pg_ctl", ["-D", dataDirectory, "-m", "fast", "-w", "-t", "30", "stop"])
        directory.remove()
    }

    /// Runs `body` with a server that is stopped afterwards, whatever happens.
    public static func with<T>(_ label: String = "ferry-pg", _ body: (TestPostgres) async throws -> T) async throws -> T {
        let server = try await start(label)
        do {
            let result = try await body(server)
            await server.stop()
            return result
        } catch {
            await server.stop()
            throw error
        }
    }
}
