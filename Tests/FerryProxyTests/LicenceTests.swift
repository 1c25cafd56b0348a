import Crypto
import FerryCore
import FerryFormats
import FerryProxy
import FerryTestSupport
import Foundation
import Testing

@Suite("Licences")
struct LicenceTests {
    let app = ProxyApp(name: "shop", registries: ["vendor": "registry.vendor.example", "mirror": "127.0.0.1:5000"], images: [try! ImageGlob("vendor/**")])
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    func licence(images: [String] = [], expires: Date? = nil, revoked: Date? = nil) -> Licence {
        Licence(id: 1, app: "shop", customer: "acme", images: images.map { try! ImageGlob($0) }, createdAt: now, expiresAt: expires, revokedAt: revoked)
    }

    @Test func idsAreRandomHashedAndRedacted() throws {
        let a = LicenceID.generate()
        let b = LicenceID.generate()
        #expect(a != b)
        #expect(a.secret.count == LicenceID.prefix.count + 64)
        #expect(LicenceID(a.secret) == a)
        #expect(a.hash.count == 64 && a.hash != a.secret && !a.hash.contains(a.secret.dropFirst(LicenceID.prefix.count)))
        #expect(!"\(a)".contains(a.secret))
        #expect(LicenceID("ferrylic_" + String(repeating: "G", count: 64)) == nil)
        #expect(LicenceID("password") == nil)
    }

    /// A customer's name is one line of text: `licence list` prints it between tabs, logs quote it.
    /// Anything else is refused with `INVALID_ARGUMENT`, and no licence is made; SQL-hostile text is
    /// kept as given (every query binds its values).
    @Test func customerNamesAreOneLineAndStoredAsGiven() async throws {
        let directory = try TemporaryDirectory("ferry-licences")
        defer { directory.remove() }
        let management = LocalProxyManagement(database: try ProxyDirectory(directory.sub("proxy")).openDatabase())
        _ = try await management.putApp(app)
        for bad in ["", "acme\nevil\t1\tshop", "acme\r", "tab\there", "bell\u{07}", "line\u{2028}break", "para\u{2029}graph", "right\u{202E}left", String(repeating: "x", count: 201)] {
            do {
                _ = try await management.createLicence(LicenceRequest(app: "shop", customer: bad))
                Issue.record("customer \(bad.debugDescription) was taken")
            } catch let error as FerryError {
                #expect(error.code == .invalidArgument && error.message.contains("one line"), "\(error)")
            }
        }
        #expect(try await management.licences().isEmpty)
        let hostile = #"Acme "Café" Ltd'); DROP TABLE licences; --"#
        let created = try await management.createLicence(LicenceRequest(app: "shop", customer: hostile))
        #expect(try await management.licences().map(\.customer) == [hostile])
        #expect(try await management.licence(id: created.licence.id).licence.customer == hostile)
    }

    @Test func revokedAndExpiredSayWhich() {
        #expect(LicencePolicy.refusal(of: licence(), now: now) == nil)
        #expect(LicencePolicy.refusal(of: licence(revoked: now), now: now)?.message == "licence revoked")
        let expired = LicencePolicy.refusal(of: licence(expires: now.addingTimeInterval(-1)), now: now)
        #expect(expired?.code == .denied)
        #expect(expired?.message.hasPrefix("licence expired on 2027-01-15T07:59:59Z") == true)
        #expect(LicencePolicy.refusal(of: licence(expires: now.addingTimeInterval(60)), now: now) == nil)
    }

    @Test func allowanceFollowsAppAndLicenceGlobs() {
        let allowed = ProxyRepository(app: "shop", registry: "vendor", repository: "team/app")
        #expect(LicencePolicy.check(licence(), app: app, repository: allowed, now: now) == nil)
        // Outside the app's globs, another app's, an undefined registry name.
        for repository in [
            ProxyRepository(app: "shop", registry: "mirror", repository: "team/app"),
            ProxyRepository(app: "other", registry: "vendor", repository: "team/app"),
            ProxyRepository(app: "shop", registry: "internal", repository: "team/app"),
        ] {
            let refusal = LicencePolicy.check(licence(), app: app, repository: repository, now: now)
            #expect(refusal?.code == .denied)
            #expect(refusal?.message.contains(repository.description) == true)
        }
        // Narrower licence globs.
        let narrow = licence(images: ["vendor/team/app"])
        #expect(LicencePolicy.check(narrow, app: app, repository: allowed, now: now) == nil)
        #expect(LicencePolicy.check(narrow, app: app, repository: ProxyRepository(app: "shop", registry: "vendor", repository: "team/db"), now: now) != nil)
    }

    @Test func expiryParsesTimesAndDurations() throws {
        #expect(try LicenceExpiry.parse("2027-01-31T00:00:00Z", now: now) == ISO8601DateFormatter().date(from: "2027-01-31T00:00:00Z"))
        #expect(try LicenceExpiry.parse("90d", now: now) == now.addingTimeInterval(90 * 86400))
        #expect(try LicenceExpiry.parse("12h", now: now) == now.addingTimeInterval(12 * 3600))
        #expect(throws: FerryError.self) { try LicenceExpiry.parse("soon", now: now) }
        #expect(throws: FerryError.self) { try LicenceExpiry.parse("-3d", now: now) }
    }

    @Test func hostsAreRegistryHosts() {
        #expect(ProxyApp.isValidHost("registry.vendor.example"))
        #expect(ProxyApp.isValidHost("127.0.0.1:5000"))
        #expect(!ProxyApp.isValidHost("registry.vendor.example/path"))
        #expect(!ProxyApp.isValidHost("http://x"))
        #expect(!ProxyApp.isValidHost(""))
    }
}

@Suite("Proxy tokens")
struct ProxyTokenTests {
    let key = SymmetricKey(size: .bits256)
    let now = Date(timeIntervalSince1970: 1_800_000_000)

    @Test func signsAndVerifies() throws {
        let token = ProxyToken(licence: 7, repositories: ["proxy/shop/vendor/app"], issuedAt: now, lifetime: .seconds(300))
        let text = token.sign(key: key)
        #expect(try ProxyToken.verify(text, key: key, now: now.addingTimeInterval(10)).get() == token)
        #expect(ProxyToken.verify(text, key: key, now: now.addingTimeInterval(300)) == .failure(.expired))
        #expect(ProxyToken.verify(text, key: SymmetricKey(size: .bits256), now: now) == .failure(.badSignature))
    }

    @Test func refusesTamperingAndGarbage() {
        let text = ProxyToken(licence: 7, repositories: [], issuedAt: now, lifetime: .seconds(300)).sign(key: key)
        let parts = text.split(separator: ".")
        let forged = ProxyToken(licence: 1, repositories: ["proxy/shop/vendor/app"], issuedAt: now, lifetime: .seconds(300)).sign(key: key)
        let swapped = forged.split(separator: ".")[0] + "." + parts[1]
        #expect(ProxyToken.verify(swapped, key: key, now: now) == .failure(.badSignature))
        for garbage in ["", ".", "a.b.c", "!!!.???", String(repeating: "a", count: 20_000), "é.é"] {
            #expect((try? ProxyToken.verify(garbage, key: key, now: now).get()) == nil)
        }
    }

    @Test func scopesNameProxyRepositories() {
        let repositories = TokenScope.pullRepositories([
            "repository:proxy/shop/vendor/team/app:pull", "repository:proxy/shop/vendor/db:push", "registry:catalog:*",
            "repository:proxy/shop/../x:pull", "repository:proxy/shop/vendor/a:pull,push repository:proxy/shop/vendor/b:pull",
            "repository:proxy/shop/vendor/c:pull+repository:proxy/shop/vendor/d:pull",
        ])
        #expect(repositories.map(\.description) == ["proxy/shop/vendor/team/app", "proxy/shop/vendor/a", "proxy/shop/vendor/b", "proxy/shop/vendor/c", "proxy/shop/vendor/d"])
    }

    /// Found by `make fuzz` (proxy-token): a scope without an actions part trapped (a range whose
    /// end, the prefix's own colon, came before its start), taking the proxy's process down.
    @Test func scopesWithoutActionsAreIgnored() {
        #expect(TokenScope.pullRepositories(["repository:proxy/shull", "repository:", "repository::", "repository:pull", "repository"]).isEmpty)
        #expect(TokenScope.pullRepositories(["repository::pull"]).isEmpty)
    }
}
