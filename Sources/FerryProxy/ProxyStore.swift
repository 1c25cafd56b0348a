import FerryCore
import FerryFormats
import Foundation

/// The proxy's shared state: apps, licences (their IDs only as SHA-256), manifests' media types,
/// the repositories served, the audit of pulls. ``ProxyDatabase`` keeps it in SQLite in the data
/// directory (the default); ``ProxyPostgresDatabase`` in PostgreSQL, shared by several replicas.
/// Nothing is cached in front of it: licence checks read it on every request, so a revoke through
/// one replica is seen by all on their next request.
public protocol ProxyStore: Sendable {
    /// Adds an app, or replaces its registries and globs.
    func putApp(_ app: ProxyApp, now: Date) async throws
    func app(_ name: String) async throws -> ProxyApp?
    func apps() async throws -> [ProxyApp]

    /// Records a new licence under its ID's hash and returns it (`notFound` without the app).
    func createLicence(
        hash: String, app: String, customer: String, images: [ImageGlob], expiresAt: Date?, maxRate: Int64?, now: Date
    ) async throws -> Licence
    /// The licence whose ID hashes to `hash`.
    func licence(hash: String) async throws -> Licence?
    func licence(id: Int64) async throws -> Licence?
    func licences() async throws -> [Licence]
    /// Revokes a licence (once: a second revoke keeps the first time); `notFound` if there is none.
    func revokeLicence(id: Int64, now: Date) async throws -> Licence

    func recordManifest(_ digest: Digest, mediaType: String, repository: String) async throws
    func manifestMediaType(_ digest: Digest) async throws -> String?
    /// Repositories the proxy has served a manifest of.
    func knownRepositories() async throws -> [String]

    /// Records that the upstream `repository` (`registry/name`) holds `digest` (a manifest or a
    /// blob): what the cache may serve for it while the upstream is down.
    func confirm(_ digest: Digest, repository: String) async throws
    func isConfirmed(_ digest: Digest, repository: String) async throws -> Bool
    /// Records what `tag` of the upstream `repository` named when last resolved.
    func recordTag(_ tag: String, repository: String, digest: Digest, at: Date) async throws
    func lastTag(_ tag: String, repository: String) async throws -> (digest: Digest, at: Date)?
    /// Every tag recorded for the upstream `repository`, with what it last named.
    func recordedTags(repository: String) async throws -> [(tag: String, digest: Digest)]
    /// The upstream answered it does not have these any more: drops their records.
    func forgetTag(_ tag: String, repository: String) async throws
    func unconfirm(_ digest: Digest, repository: String) async throws
    func forgetRepository(_ repository: String) async throws
    func recordPull(_ pull: PullRecord) async throws
    /// Returns once the database answers a trivial query; throws `BUSY` when it cannot
    /// (`GET /readyz`).
    func checkAvailable() async throws
    /// Audited pulls since `since`, of one licence or all, oldest first.
    func pulls(licence: Int64?, since: Date) async throws -> [PullRecord]
}

extension ProxyDatabase: ProxyStore {}
