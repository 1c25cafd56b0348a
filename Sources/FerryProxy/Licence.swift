import FerryCore
import FerryFormats
import Foundation

/// An app: the upstream registries it names and the repositories it exposes.
public struct ProxyApp: Sendable, Hashable, Codable {
    public var name: String
    /// Registry name → `host[:port]`.
    public var registries: [String: String]
    /// Which `<registry>/<repository>` names the app exposes; empty: all of its registries'.
    public var images: [ImageGlob]

    public init(name: String, registries: [String: String], images: [ImageGlob] = []) {
        self.name = name
        self.registries = registries
        self.images = images
    }

    /// Whether `host` is a registry host (`name[:port]`, `ip[:port]`), as an image reference's first part.
    public static func isValidHost(_ host: String) -> Bool {
        guard !host.isEmpty, host.utf8.count <= 255, !host.contains("/"),
            let reference = try? ImageReference(parsing: host + "/probe")
        else { return false }
        return reference.registry == host && reference.repository == "probe"
    }
}

/// A licence as stored (its ID only as a hash).
public struct Licence: Sendable, Hashable, Codable {
    public var id: Int64
    public var app: String
    public var customer: String
    /// Narrower than the app's, if given; empty: everything the app exposes.
    public var images: [ImageGlob]
    public var createdAt: Date
    public var expiresAt: Date?
    public var revokedAt: Date?
    /// Bytes per second over all of this licence's streams; nil: unlimited.
    public var maxRate: Int64?

    public init(
        id: Int64, app: String, customer: String, images: [ImageGlob] = [], createdAt: Date, expiresAt: Date? = nil, revokedAt: Date? = nil,
        maxRate: Int64? = nil
    ) {
        self.id = id
        self.app = app
        self.customer = customer
        self.images = images
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
        self.maxRate = maxRate
    }
}

/// The licence check every request passes: pure, on the licence, its app and the clock.
public enum LicencePolicy {
    /// Why a licence may not be used at all (`licence revoked`, `licence expired on …`), or nil.
    public static func refusal(of licence: Licence, now: Date) -> FerryError? {
        if licence.revokedAt != nil { return FerryError(.denied, "licence revoked") }
        if let expires = licence.expiresAt, expires <= now {
            return FerryError(.denied, "licence expired on \(ISO8601DateFormatter().string(from: expires))")
        }
        return nil
    }

    /// Whether the licence, valid now, may pull `repository` of its app `app`.
    public static func allows(_ licence: Licence, app: ProxyApp?, repository: ProxyRepository) -> Bool {
        guard let app, app.name == licence.app, repository.app == app.name, app.registries[repository.registry] != nil else { return false }
        let subject = repository.globSubject
        if !app.images.isEmpty, !app.images.contains(where: { $0.matches(subject) }) { return false }
        if !licence.images.isEmpty, !licence.images.contains(where: { $0.matches(subject) }) { return false }
        return true
    }

    /// The full check: nil when the licence may pull `repository`, else the `403 DENIED` to answer.
    public static func check(_ licence: Licence, app: ProxyApp?, repository: ProxyRepository, now: Date) -> FerryError? {
        if let refusal = refusal(of: licence, now: now) { return refusal }
        guard allows(licence, app: app, repository: repository) else {
            return FerryError(.denied, "this licence does not allow pulling \(repository)")
        }
        return nil
    }
}
