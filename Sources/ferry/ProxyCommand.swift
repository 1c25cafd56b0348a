import ArgumentParser
import FerryCoordinator
import FerryCore
import FerryFormats
import FerryProxy
import FerryRegistry
import Foundation
import Logging

/// `ferry proxy`: the licence-gated vendor proxy and its management.
struct ProxyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "proxy",
        abstract: "A pull-only registry proxy that serves a vendor's images to the licences it created.",
        subcommands: [ProxyServeCommand.self, ProxyAppCommand.self, ProxyLicenceCommand.self, ProxyUsageCommand.self]
    )
}

/// How a management command reaches the proxy: its admin API (`--proxy URL` with the admin
/// token), or the data directory of a proxy on this machine (its database, running or not).
struct ProxyConnectionOptions: ParsableArguments {
    @Option(name: .customLong("proxy"), help: "The proxy's URL, e.g. https://proxy.vendor.example (or FERRY_PROXY).")
    var proxy: String?

    @Option(name: .customLong("token-file"), help: "A file holding the proxy's admin token (a copy of its DATA_DIR/admin-token).")
    var tokenFile: String?

    @Option(name: .customLong("token"), help: "The proxy's admin token. Discouraged: every local user sees it in `ps`; use --token-file or FERRY_PROXY_TOKEN.")
    var token: String?

    @Option(name: .customLong("ca"), help: "Extra CA certificates (PEM) to trust for an https:// proxy.")
    var caFile: String?

    @Option(name: .customLong("data-dir"), help: "The data directory of a proxy on this machine (or FERRY_PROXY_DIR): its database, directly.")
    var dataDirectory: String?

    @Flag(help: "Print JSON instead of text.")
    var json = false

    /// The proxy these options name: over HTTP with `--proxy`/`FERRY_PROXY`, else the database in
    /// `--data-dir`. `creating` (`app add`, the first step of provisioning): a directory without
    /// state gets a new database, so a proxy can be provisioned before its service first starts;
    /// every other command refuses one (a mistyped path shows, instead of an empty proxy).
    func management(creating: Bool = false) throws(FerryError) -> any ProxyManagement {
        let environment = ProcessInfo.processInfo.environment
        func nonEmpty(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        if let url = proxy ?? nonEmpty("FERRY_PROXY") {
            let source = proxy != nil ? "--proxy" : "FERRY_PROXY"
            let secret = try tokenFile.map { file throws(FerryError) in try LeaderConnection.readSecret(file, what: "admin token") }
                ?? token ?? nonEmpty("FERRY_PROXY_TOKEN")
            guard let secret, !secret.isEmpty else {
                throw FerryError(.configuration, "no admin token for the proxy at \(url): pass --token-file FILE (a copy of its DATA_DIR/admin-token) or set FERRY_PROXY_TOKEN")
            }
            return ProxyAdminClient(baseURL: try AdminURL.proxy(url, source: source), token: secret, caFile: caFile)
        }
        guard let dataDirectory = dataDirectory ?? nonEmpty("FERRY_PROXY_DIR") else {
            throw FerryError(.configuration, "no proxy given: pass --proxy URL with --token-file (or set FERRY_PROXY, FERRY_PROXY_TOKEN), or --data-dir DIR of a proxy on this machine")
        }
        if let problem = PathAccess.problem(dataDirectory, writing: creating), problem != PathAccess.missing {
            throw FerryError(.configuration, "cannot use the proxy's data directory '\(dataDirectory)': \(problem)")
        }
        if FileManager.default.fileExists(atPath: dataDirectory + "/database") {
            return try runningPostgresProxy(dataDirectory)
        }
        let exists = FileManager.default.fileExists(atPath: dataDirectory + "/proxy.sqlite")
        guard exists || creating else {
            throw FerryError(
                .configuration,
                "no proxy state in '\(dataDirectory)': add an app first (`ferry proxy app add … --data-dir \(dataDirectory)`) or start `ferry proxy serve --data-dir \(dataDirectory)`")
        }
        let management = LocalProxyManagement(database: try ProxyDirectory(dataDirectory).openDatabase())
        if !exists { FileHandle.standardError.write(Data("ferry: created the proxy's state in '\(dataDirectory)'\n".utf8)) }
        return management
    }

    /// A proxy on this machine that keeps its state in PostgreSQL: reached through its admin API
    /// at `DIR/address` with `DIR/admin-token` (shared by every replica), so the checks and the
    /// database credentials stay in the proxy.
    func runningPostgresProxy(_ dataDirectory: String) throws(FerryError) -> any ProxyManagement {
        let server = (try? String(contentsOfFile: dataDirectory + "/database", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "PostgreSQL"
        guard let address = try? String(contentsOfFile: dataDirectory + "/address", encoding: .utf8),
            case let url = address.trimmingCharacters(in: .whitespacesAndNewlines), !url.isEmpty
        else {
            throw FerryError(
                .configuration,
                "the proxy in '\(dataDirectory)' keeps its state in \(server) and is not running: start it, or manage it through any replica with --proxy URL --token-file \(dataDirectory)/admin-token")
        }
        let secret = try LeaderConnection.readSecret(dataDirectory + "/admin-token", what: "admin token")
        return ProxyAdminClient(baseURL: url, token: secret, caFile: caFile)
    }

    func printJSON(_ value: some Encodable) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        print(String(decoding: try encoder.encode(value), as: UTF8.self))
    }
}

struct ProxyServeCommand: DaemonCommand {
    static let configuration = CommandConfiguration(commandName: "serve", abstract: "Serve the proxy's registry API.")

    @Option(name: .customLong("data-dir"), help: "Directory for state, content store and keys.")
    var dataDirectory: String

    @Option(help: "Address to listen on, HOST:PORT.")
    var listen: String = "0.0.0.0:5443"

    @Option(name: .customLong("tls-cert"), help: "PEM certificate chain to serve TLS with.")
    var tlsCert: String?

    @Option(name: .customLong("tls-key"), help: "PEM private key of --tls-cert.")
    var tlsKey: String?

    @Option(name: .customLong("upstream-auth"), help: "Docker config.json with the vendor's upstream credentials (mode 0600).")
    var upstreamAuth: String?

    @Option(name: .customLong("insecure-registry"), help: "An upstream host:port that may be reached over plain HTTP (repeatable). Loopback always may.")
    var insecureRegistries: [String] = []

    @Option(name: .customLong("ca-file"), help: "PEM file of extra CA certificates for upstream TLS.")
    var caFile: String?

    @Option(name: .customLong("tag-ttl"), parsing: .unconditional, help: "Seconds a tag's upstream resolution is reused.")
    var tagTTL: Int = 30

    @Flag(name: .customLong("no-cache"), help: "Stream only: keep no blobs or manifests (each verified while it streams).")
    var noCache = false

    @Option(name: .customLong("public-url"), help: "The URL clients reach the proxy at (the token realm). Default: from each request's Host.")
    var publicURL: String?

    @Option(name: .customLong("max-streams"), parsing: .unconditional, help: "Concurrent blob downloads per licence.")
    var maxStreams: Int = 16

    @Option(
        name: .customLong("max-stream-wait"), parsing: .unconditional,
        help: "Seconds a download past --max-streams waits for one of the licence's to end before 429 (0: 429 at once).")
    var maxStreamWait: Int = 50

    @Option(
        name: .customLong("database"),
        help: "Keep the state in PostgreSQL, shared by replicas: postgres://USER:PASSWORD@HOST[:PORT]/DB[?sslmode=…]. Prefer the config key or FERRY_DATABASE (flags show in `ps`). Default: SQLite in --data-dir.")
    var database: String?

    @OptionGroup
    var service: ServiceOptions

    var lockedDirectory: String? { dataDirectory }

    func listenAddresses() throws -> [(flag: String, host: String, port: Int)] {
        let (host, port) = try LeaderCommand.parseListen(listen)
        return [("--listen", host, port)]
    }

    func serve() async throws {
        let (host, port) = try LeaderCommand.parseListen(listen)
        guard (tlsCert == nil) == (tlsKey == nil) else { throw FerryError(.configuration, "--tls-cert and --tls-key go together") }
        var credentials = RegistryCredentials()
        if let upstreamAuth {
            guard FileManager.default.fileExists(atPath: upstreamAuth) else {
                throw FerryError(.configuration, "cannot read --upstream-auth '\(upstreamAuth)'")
            }
            // Refused (the vendor's registry credentials, a new option): the same words as the warnings elsewhere.
            if let notice = PathAccess.openSecretNotice(upstreamAuth, what: "--upstream-auth") { throw FerryError(.configuration, notice) }
            credentials = try RegistryCredentials(contentsOf: upstreamAuth)
        }
        var registry = RegistryClientConfiguration()
        registry.insecureRegistries = Set(insecureRegistries)
        registry.caFile = caFile
        registry.credentialsFlag = "--upstream-auth"
        let configuration = ProxyConfiguration(
            tagTTL: .seconds(tagTTL), cache: !noCache, publicURL: publicURL.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 },
            maxStreamsPerLicence: max(maxStreams, 1), maxStreamWait: .seconds(max(maxStreamWait, 0)))
        let databaseURL = try database.map { text throws(FerryError) in try ProxyDatabaseURL(parsing: text) }
        service.bootstrap()
        let options = ProxyServerOptions(
            directory: try ProxyDirectory(dataDirectory), host: host, port: port, tlsCertificate: tlsCert, tlsKey: tlsKey,
            configuration: configuration, registry: registry, credentials: credentials, database: databaseURL)
        // READY=1 once the socket is bound, STOPPING=1 at the start of a graceful shutdown (Type=notify).
        let notifier = SystemdNotifier(environment: ProcessInfo.processInfo.environment)
        try await ProxyServer.run(
            options, logger: Logger(label: "ferry.proxy"), listening: { url in notifier.ready(status: "listening on \(url)") },
            services: [notifier.stoppingNotice()])
        }
}

struct ProxyAppCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "app", abstract: "Define the apps the proxy serves.", subcommands: [Add.self, List.self])

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add an app (or replace its registries and images).")
        @Argument(help: "The app's name: lowercase letters, digits and '-'.") var app: String
        @Option(name: .customLong("registry"), help: "NAME=HOST[:PORT]: an upstream registry of the app (repeatable).") var registries: [String] = []
        @Option(name: .customLong("images"), help: "A glob over REGISTRY-NAME/REPOSITORY the app exposes (repeatable). Default: all.") var images: [String] = []
        @OptionGroup var connection: ProxyConnectionOptions

        func run() async throws {
            try await reportingErrors {
                var map: [String: String] = [:]
                for entry in registries {
                    let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
                    guard parts.count == 2 else {
                        throw FerryError(.configuration, "invalid --registry '\(entry.prefix(200))': expected NAME=HOST[:PORT], e.g. vendor=registry.vendor.example")
                    }
                    map[parts[0]] = parts[1]
                }
                let globs = try images.map { text throws(FerryError) in
                    do { return try ImageGlob(text) } catch { throw FerryError(.configuration, "\(error)") }
                }
                let proxyApp = try await connection.management(creating: true).putApp(ProxyApp(name: app, registries: map, images: globs))
                if connection.json { try connection.printJSON(proxyApp) } else { print("app \(app): \(map.keys.sorted().map { "\($0)=\(map[$0]!)" }.joined(separator: ", "))") }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the apps.")
        @OptionGroup var connection: ProxyConnectionOptions

        func run() async throws {
            try await reportingErrors {
                let apps = try await connection.management().apps()
                if connection.json { return try connection.printJSON(apps) }
                for app in apps {
                    let registries = app.registries.keys.sorted().map { "\($0)=\(app.registries[$0]!)" }.joined(separator: ",")
                    print("\(app.name)\t\(registries)\t\(app.images.isEmpty ? "**" : app.images.map(\.pattern).joined(separator: ","))")
                }
            }
        }
    }
}

struct ProxyLicenceCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "licence", abstract: "Create, list, show and revoke licences.", subcommands: [Create.self, List.self, Show.self, Revoke.self])

    /// A licence as the commands print it (never its ID's secret, which is shown once at creation).
    struct Printed: Encodable {
        var id: Int64
        var app: String
        var customer: String
        var images: [String]
        var createdAt: Date
        var expiresAt: Date?
        var revokedAt: Date?
        var maxRate: Int64?
        var state: String

        init(_ licence: Licence, now: Date = Date()) {
            id = licence.id
            app = licence.app
            customer = licence.customer
            images = licence.images.map(\.pattern)
            createdAt = licence.createdAt
            expiresAt = licence.expiresAt
            revokedAt = licence.revokedAt
            maxRate = licence.maxRate
            state = licence.revokedAt != nil ? "revoked" : (licence.expiresAt.map { $0 <= now } == true ? "expired" : "active")
        }

        var line: String {
            let formatter = ISO8601DateFormatter()
            return "\(id)\t\(app)\t\(customer)\t\(state)\texpires=\(expiresAt.map { formatter.string(from: $0) } ?? "never")\timages=\(images.isEmpty ? "**" : images.joined(separator: ","))"
                + (maxRate.map { "\tmax-rate=\(ByteSize.format($0))/s" } ?? "")
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a licence; prints only its ID (shown this once).")
        @Argument(help: "The app the licence is for.") var app: String
        @Option(help: "The customer's name.") var customer: String
        @Option(name: .customLong("images"), help: "A glob over REGISTRY-NAME/REPOSITORY this licence may pull (repeatable). Default: all of the app's.") var images: [String] = []
        @Option(help: "Expiry: an RFC 3339 time or a duration (90d, 12h).") var expires: String?
        @Option(name: .customLong("max-rate"), parsing: .unconditional, help: "Cap on this licence's download rate, e.g. 50MiB/s.") var maxRate: String?
        @OptionGroup var connection: ProxyConnectionOptions

        func run() async throws {
            try await reportingErrors {
                let globs = try images.map { text throws(FerryError) in
                    do { return try ImageGlob(text) } catch { throw FerryError(.configuration, "\(error)") }
                }
                let expiresAt = try expires.map { text throws(FerryError) in try LicenceExpiry.parse(text) }
                let rate = try maxRate.map { text throws(FerryError) in try ByteSize.parseRate(text) }
                let created = try await connection.management().createLicence(
                    LicenceRequest(app: app, customer: customer, images: globs, expiresAt: expiresAt, maxRate: rate))
                if connection.json {
                    struct Created: Encodable {
                        var licenceID: String
                        var licence: Printed
                    }
                    try connection.printJSON(Created(licenceID: created.licenceID, licence: Printed(created.licence)))
                } else {
                    print(created.licenceID)
                }
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List licences.")
        @OptionGroup var connection: ProxyConnectionOptions

        func run() async throws {
            try await reportingErrors {
                let licences = try await connection.management().licences().map { Printed($0) }
                if connection.json { return try connection.printJSON(licences) }
                for licence in licences { print(licence.line) }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a licence and its usage.")
        @Argument(help: ArgumentHelp("The licence's number (the first column of `licence list`), not the ferrylic_… ID the customer was given.", valueName: "number")) var id: Int64
        @OptionGroup var connection: ProxyConnectionOptions

        func run() async throws {
            try await reportingErrors {
                let shown = try await connection.management().licence(id: id)
                if connection.json {
                    struct Shown: Encodable {
                        var licence: Printed
                        var usage: [ProxyUsage.Row]
                    }
                    return try connection.printJSON(Shown(licence: Printed(shown.licence), usage: shown.usage))
                }
                print(Printed(shown.licence).line)
                for row in shown.usage { print("  \(row.line)") }
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a licence: its next request is refused.")
        @Argument(help: ArgumentHelp("The licence's number (the first column of `licence list`), not the ferrylic_… ID the customer was given.", valueName: "number")) var id: Int64
        @OptionGroup var connection: ProxyConnectionOptions

        func run() async throws {
            try await reportingErrors {
                let licence = try await connection.management().revokeLicence(id: id)
                if connection.json { return try connection.printJSON(Printed(licence)) }
                print("licence \(id) revoked")
            }
        }
    }
}

struct ProxyUsageCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "usage", abstract: "Pulls and bytes per licence and image.")
    @Option(parsing: .unconditional, help: "Only this licence (its number).") var licence: Int64?
    @Option(help: "Only pulls in the last DURATION (e.g. 24h, 7d).") var since: String?
    @OptionGroup var connection: ProxyConnectionOptions

    func run() async throws {
        try await reportingErrors {
            let now = Date()
            let start = try since.map { text throws(FerryError) in
                // A time is taken as given; a duration (which LicenceExpiry reads as ahead of now) counts back.
                let time = ISO8601DateFormatter()
                if let date = time.date(from: text) { return date }
                time.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
                if let date = time.date(from: text) { return date }
                guard let ahead = try? LicenceExpiry.parse(text, now: now) else {
                    throw FerryError(
                        .configuration,
                        "invalid --since '\(text.prefix(60))': expected a duration back from now (24h, 7d) or an RFC 3339 time (2026-12-01T00:00:00Z)")
                }
                return now.addingTimeInterval(-ahead.timeIntervalSince(now))
            } ?? .distantPast
            let management = try connection.management()
            // An unknown licence is an error, as `licence show` says, not an empty table.
            if let licence { _ = try await management.licence(id: licence) }
            let rows = try await management.usage(licence: licence, since: start)
            if connection.json { return try connection.printJSON(rows) }
            for row in rows { print(row.line) }
        }
    }
}
