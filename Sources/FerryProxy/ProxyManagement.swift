import FerryCore
import FerryFormats
import Foundation

/// What `ferry proxy app|licence|usage` do, whether on the proxy's database on this machine
/// (``LocalProxyManagement``) or over its admin API (``ProxyAdminClient``).
public protocol ProxyManagement: Sendable {
    /// Adds an app, or replaces its registries and globs.
    func putApp(_ app: ProxyApp) async throws -> ProxyApp
    func apps() async throws -> [ProxyApp]
    /// Creates a licence; the answer holds its secret ID, the only time it is shown.
    func createLicence(_ request: LicenceRequest) async throws -> CreatedLicence
    func licences() async throws -> [Licence]
    /// A licence and its usage.
    func licence(id: Int64) async throws -> LicenceUsage
    func revokeLicence(id: Int64) async throws -> Licence
    /// Pulls and bytes per licence and repository since `since`, of one licence or all.
    func usage(licence: Int64?, since: Date) async throws -> [ProxyUsage.Row]
}

/// `POST /admin/v1/proxy/licences`.
public struct LicenceRequest: Sendable, Hashable, Codable {
    public var app: String
    public var customer: String
    public var images: [ImageGlob]
    public var expiresAt: Date?
    /// Bytes per second; nil: unlimited.
    public var maxRate: Int64?

    public init(app: String, customer: String, images: [ImageGlob] = [], expiresAt: Date? = nil, maxRate: Int64? = nil) {
        self.app = app
        self.customer = customer
        self.images = images
        self.expiresAt = expiresAt
        self.maxRate = maxRate
    }
}

/// A new licence and its secret ID (shown this once; the proxy keeps only its hash).
public struct CreatedLicence: Sendable, Hashable, Codable {
    public var licenceID: String
    public var licence: Licence

    public init(licenceID: String, licence: Licence) {
        self.licenceID = licenceID
        self.licence = licence
    }
}

/// A licence with its usage (`licence show`).
public struct LicenceUsage: Sendable, Hashable, Codable {
    public var licence: Licence
    public var usage: [ProxyUsage.Row]

    public init(licence: Licence, usage: [ProxyUsage.Row]) {
        self.licence = licence
        self.usage = usage
    }
}

/// Management on the proxy's database: the one implementation of the checks, used by the CLI
/// with `--data-dir` and behind the admin API.
public struct LocalProxyManagement: ProxyManagement {
    public let database: any ProxyStore

    public init(database: any ProxyStore) {
        self.database = database
    }

    public func putApp(_ app: ProxyApp) async throws -> ProxyApp {
        guard ProxyRepository.isValidName(app.name) else {
            throw FerryError(.invalidArgument, "invalid app name '\(app.name.prefix(80))': use lowercase letters, digits and '-'")
        }
        guard !app.registries.isEmpty else { throw FerryError(.invalidArgument, "an app needs at least one --registry NAME=HOST[:PORT]") }
        for (name, host) in app.registries where !ProxyRepository.isValidName(name) || !ProxyApp.isValidHost(host) {
            throw FerryError(
                .invalidArgument, "invalid registry '\(name.prefix(80))=\(host.prefix(200))': expected NAME=HOST[:PORT], e.g. vendor=registry.vendor.example")
        }
        try await database.putApp(app, now: Date())
        return app
    }

    public func apps() async throws -> [ProxyApp] { try await database.apps() }

    public func createLicence(_ request: LicenceRequest) async throws -> CreatedLicence {
        guard !request.customer.isEmpty, request.customer.utf8.count <= 200, !request.customer.unicodeScalars.contains(where: { [.control, .format, .lineSeparator, .paragraphSeparator].contains($0.properties.generalCategory) })
        else {
            throw FerryError(.invalidArgument, "a licence needs a customer name of at most 200 bytes on one line, without control or format characters")
        }
        if let rate = request.maxRate, rate <= 0 { throw FerryError(.invalidArgument, "--max-rate must be above 0") }
        if let expiry = request.expiresAt, expiry <= Date() {
            throw FerryError(.invalidArgument, "--expires \(expiry.formatted(.iso8601)) is in the past: the licence would be refused at once")
        }
        let id = LicenceID.generate()
        let licence = try await database.createLicence(
            hash: id.hash, app: request.app, customer: request.customer, images: request.images, expiresAt: request.expiresAt,
            maxRate: request.maxRate, now: Date())
        return CreatedLicence(licenceID: id.secret, licence: licence)
    }

    public func licences() async throws -> [Licence] { try await database.licences() }

    public func licence(id: Int64) async throws -> LicenceUsage {
        guard let licence = try await database.licence(id: id) else {
            throw FerryError(.notFound, "no licence \(id); see `ferry proxy licence list`")
        }
        return LicenceUsage(licence: licence, usage: ProxyUsage(try await database.pulls(licence: id, since: .distantPast)).rows)
    }

    public func revokeLicence(id: Int64) async throws -> Licence { try await database.revokeLicence(id: id, now: Date()) }

    public func usage(licence: Int64?, since: Date) async throws -> [ProxyUsage.Row] {
        ProxyUsage(try await database.pulls(licence: licence, since: since)).rows
    }
}
