import FerryCore
import FerryTestSupport
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A vendor's side, all real programs: a `docker-registry` with htpasswd (bcrypt) auth holding
/// the vendor's images, and `ferry proxy serve` as a process holding the upstream credentials
/// (`--upstream-auth`, mode 0600), with the app `shop` (registry name `vendor`, repositories
/// `team/**`) and the app `other` (the same registry, `other/**`) defined with the CLI.
final class ProxyFixture: Sendable {
    static let user = "vendor"
    /// The vendor's upstream password (random per run): it must appear nowhere on the customer's side.
    let password: String
    let dir: TemporaryDirectory
    let registry: TestRegistry
    let process: BackgroundProcess
    let dataDirectory: String
    /// `http://127.0.0.1:PORT` (what the proxy wrote in `DIR/address`).
    let url: String
    /// A ``FaultProxy`` between the proxy and the registry (`faults:` of ``with(_:images:faults:arguments:_:)``).
    let faults: FaultProxy?

    var host: String { String(url.dropFirst("http://".count)) }
    var logPath: String { dir.sub("proxy.log") }
    var upstreamAuthFile: String { dir.sub("upstream.json") }

    /// The upstream host the apps name: the registry's, or the fault proxy's in front of it.
    var upstreamHost: String { faults?.host ?? registry.host }
    var storePath: String { dataDirectory + "/store" }

    private init(
        password: String, dir: TemporaryDirectory, registry: TestRegistry, process: BackgroundProcess, dataDirectory: String, url: String, faults: FaultProxy?
    ) {
        self.password = password
        self.dir = dir
        self.registry = registry
        self.process = process
        self.dataDirectory = dataDirectory
        self.url = url
        self.faults = faults
    }

    /// The images the vendor's registry holds (pushed by `with`).
    static let app = "team/app:1.4"
    static let tool = "team/tool:2"
    static let secret = "other/secret:1"

    /// Runs `body` with a registry, its images and a running proxy; stops them afterwards. With
    /// `faults`, the proxy reaches the registry through a ``FaultProxy`` with that plan;
    /// `arguments` go to `ferry proxy serve`.
    static func with<T>(
        _ label: String, images: [String: [TestImages.Layer]]? = nil, faults: FaultProxy.Plan? = nil, listen: String = "127.0.0.1:0",
        arguments: [String] = [], _ body: (ProxyFixture) async throws -> T
    ) async throws -> T {
        let dir = try TemporaryDirectory(label)
        let password = "upstream-" + UUID().uuidString.lowercased()
        let registry: TestRegistry
        do {
            registry = try await TestRegistry.start(in: dir.sub("registry"), auth: .htpasswd(user: user, password: password))
        } catch {
            dir.remove()
            throw error
        }
        var fixture: ProxyFixture?
        var faultProxy: FaultProxy?
        do {
            let pushes = images ?? [app: [.init("pa", "2M"), .init("pb", "1M")], tool: [.init("pt", "1M")], secret: [.init("ps", "1M")]]
            for (repoTag, layers) in pushes.sorted(by: { $0.key < $1.key }) {
                try await TestImages.make("\(registry.host)/\(repoTag)", in: dir.path, layers: layers, busybox: true, credentials: (user, password))
            }
            if let faults { faultProxy = try await FaultProxy.start(upstream: registry.url, plan: faults) }
            let upstreamHost = faultProxy?.host ?? registry.host
            let auth = dir.sub("upstream.json")
            let entry = Data("\(user):\(password)".utf8).base64EncodedString()
            guard FileManager.default.createFile(
                atPath: auth, contents: Data(#"{"auths":{"\#(upstreamHost)":{"auth":"\#(entry)"}}}"#.utf8), attributes: [.posixPermissions: 0o600])
            else { throw FerryError(.internal, "cannot write \(auth)") }
            let data = dir.sub("proxy")
            // Provisioned before the service first starts (docs/proxy.md): `app add` makes the
            // state; any other command on a directory without one is refused and makes nothing.
            let early = try await ferry(["proxy", "licence", "list", "--data-dir", data])
            guard early.status == 1, early.stderr.contains("no proxy state"), early.stderr.split(separator: "\n").count == 1,
                !FileManager.default.fileExists(atPath: data + "/proxy.sqlite")
            else { throw FerryError(.internal, "licence list on a directory without state: \(early.status) \(early.stderr)") }
            for (app, glob) in [("shop", "vendor/team/**"), ("other", "vendor/other/**")] {
                let added = try await ferry(["proxy", "app", "add", app, "--registry", "vendor=\(upstreamHost)", "--images", glob, "--data-dir", data])
                guard added.succeeded else { throw FerryError(.internal, "app add before the first start failed: \(added.stderr)") }
            }
            let process = try BackgroundProcess.spawn(
                RepositoryLayout.ferryBinary,
                ["proxy", "serve", "--data-dir", data, "--listen", listen, "--upstream-auth", auth, "--log-level", "trace"] + arguments,
                logPath: dir.sub("proxy.log"))
            var url: String?
            try await waitUntil("the proxy to listen") {
                url = (try? String(contentsOfFile: data + "/address", encoding: .utf8))?.trimmingWhitespace()
                if url?.isEmpty == false { return true }
                guard kill(process.pid, 0) == 0 else { throw FerryError(.internal, "ferry proxy serve exited: \(process.log.suffix(2000))") }
                return false
            }
            let made = ProxyFixture(password: password, dir: dir, registry: registry, process: process, dataDirectory: data, url: url!, faults: faultProxy)
            fixture = made
            let result = try await body(made)
            await made.stop()
            return result
        } catch {
            if let fixture {
                await fixture.stop()
            } else {
                await faultProxy?.stop()
                await registry.stop()
                dir.remove()
            }
            throw error
        }
    }

    func stop() async {
        await process.stop()
        await faults?.stop()
        await registry.stop()
        dir.remove()
    }

    /// Runs `ferry proxy ARGS --data-dir DIR`, which must succeed; its standard output.
    @discardableResult
    func manage(_ arguments: [String]) async throws -> String {
        let result = try await ferry(["proxy"] + arguments + ["--data-dir", dataDirectory])
        guard result.succeeded else { throw FerryError(.internal, "ferry proxy \(arguments.joined(separator: " ")) failed: \(result.stderr)") }
        return result.stdout
    }

    struct Created: Decodable {
        struct Printed: Decodable {
            var id: Int64
            var customer: String
        }
        var licenceID: String
        var licence: Printed
    }

    /// Creates a licence with the CLI: its secret ID and its number.
    func createLicence(_ app: String = "shop", customer: String = "acme", _ extra: [String] = []) async throws -> (id: String, number: Int64) {
        let created = try JSONDecoder().decode(
            Created.self, from: Data(try await manage(["licence", "create", app, "--customer", customer, "--json"] + extra).utf8))
        return (created.licenceID, created.licence.id)
    }

    func revoke(_ number: Int64) async throws { try await manage(["licence", "revoke", String(number)]) }

    /// Blobs the audit says `licence` pulled in full (`ferry proxy usage --json`).
    func blobsPulled(licence: Int64) async throws -> Int {
        struct Row: Decodable { var blobs: Int }
        let rows = try JSONDecoder().decode([Row].self, from: Data(try await manage(["usage", "--licence", String(licence), "--json"]).utf8))
        return rows.reduce(0) { $0 + $1.blobs }
    }

    /// Sends one request as written (no path normalisation) and reads the response.
    func request(
        _ method: String, _ path: String, licence: String? = nil, authorization: String? = nil, headers: [String: String] = [:],
        timeout: Duration = .seconds(30)
    ) async throws -> RawHTTPResponse {
        guard let response = try await exchange(method, path, licence: licence, authorization: authorization, headers: headers, timeout: timeout) else {
            throw FerryError(.internal, "no response to \(method) \(path)")
        }
        return response
    }

    /// As ``request(_:_:licence:authorization:headers:timeout:)``, nil when the connection ended
    /// before a whole response arrived (a cut transfer).
    func exchange(
        _ method: String, _ path: String, licence: String? = nil, authorization: String? = nil, headers: [String: String] = [:],
        timeout: Duration = .seconds(30)
    ) async throws -> RawHTTPResponse? {
        var text = "\(method) \(path) HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n"
        if let licence { text += "Authorization: Basic \(Data("customer:\(licence)".utf8).base64EncodedString())\r\n" }
        if let authorization { text += "Authorization: \(authorization)\r\n" }
        for (name, value) in headers.sorted(by: { $0.key < $1.key }) { text += "\(name): \(value)\r\n" }
        if ["PUT", "POST", "PATCH"].contains(method) { text += "Content-Length: 0\r\n" }
        text += "\r\n"
        return try await RawHTTPConnection.exchange(url: url, text, head: method == "HEAD", timeout: timeout)
    }

    /// The blobs (config and layers) of `repoTag` (of ``app`` by default) as the proxy serves its
    /// manifest to `licence`, largest first.
    func blobs(licence: String, _ repoTag: String = ProxyFixture.app) async throws -> [Descriptor] {
        let parts = repoTag.split(separator: ":")
        let response = try await request(
            "GET", "/v2/proxy/shop/vendor/\(parts[0])/manifests/\(parts[1])", licence: licence,
            headers: ["Accept": "\(MediaType.dockerManifest), \(MediaType.ociManifest)"])
        guard response.status == 200 else { throw FerryError(.internal, "manifest of \(repoTag): \(response.statusLine) \(response.text)") }
        guard case .image(let manifest, _) = try ParsedManifest.decode(response.body, contentType: response.headers["content-type"] ?? "") else {
            throw FerryError(.internal, "\(repoTag) is not a single image")
        }
        return manifest.blobs.sorted { $0.size > $1.size }
    }

    /// `GET` of a blob of ``app`` with `licence`: the response, nil when the transfer was cut.
    func blob(_ digest: Digest, licence: String, headers: [String: String] = [:], timeout: Duration = .seconds(60)) async throws -> RawHTTPResponse? {
        try await exchange("GET", "/v2/proxy/shop/vendor/team/app/blobs/\(digest)", licence: licence, headers: headers, timeout: timeout)
    }

    /// The value of a metric of `/metrics` (the sum over its label sets matching `labels`), 0 when absent.
    func metric(_ name: String, _ labels: [String] = []) async throws -> Double {
        let token = try String(contentsOfFile: dataDirectory + "/admin-token", encoding: .utf8).trimmingWhitespace()
        let response = try await request("GET", "/metrics", authorization: "Bearer \(token)")
        var total = 0.0
        for line in response.text.split(separator: "\n") where line.hasPrefix(name + "{") || line.hasPrefix(name + " ") {
            guard labels.allSatisfy({ line.contains($0) }), let value = line.split(separator: " ").last.flatMap({ Double($0) }) else { continue }
            total += value
        }
        return total
    }

    /// The committed blobs and the partial ingests in the proxy's content store.
    func storedBlobs() -> (committed: [String], partial: [String]) {
        func files(_ folder: String) -> [String] { (try? FileManager.default.contentsOfDirectory(atPath: storePath + "/" + folder + "/sha256")) ?? [] }
        return (files("blobs"), files("ingest"))
    }

    /// The access-log lines of the vendor's registry (each request it answered).
    func upstreamRequests() -> [String] {
        let log = (try? String(contentsOfFile: registry.directory + "/registry.log", encoding: .utf8)) ?? ""
        return log.split(separator: "\n").filter { $0.contains("\"GET /v2/") || $0.contains("\"HEAD /v2/") }.map(String.init)
    }

    /// Every file under `root` whose bytes contain one of `secrets` (as text, or base64 in a Basic
    /// header); content-store blobs (image bytes) are left out.
    static func filesHolding(_ secrets: [String], under root: String) -> [String] {
        var found: [String] = []
        guard let walker = FileManager.default.enumerator(atPath: root) else { return [] }
        while let relative = walker.nextObject() as? String {
            let path = root + "/" + relative
            if relative.hasPrefix("store/blobs/") || relative.contains("/store/blobs/") { continue }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
                let data = FileManager.default.contents(atPath: path)
            else { continue }
            if secrets.contains(where: { holds(data, $0) }) { found.append(relative) }
        }
        return found
    }

    /// Whether `data` holds `secret`, as it is or inside a Basic credential (`user:secret` in base64, for the users the tests use).
    static func holds(_ data: Data, _ secret: String) -> Bool {
        var needles = [Data(secret.utf8)]
        for user in ["customer", "x", "acme", ProxyFixture.user] {
            needles.append(Data(Data("\(user):\(secret)".utf8).base64EncodedString().utf8))
        }
        return needles.contains { data.range(of: $0) != nil }
    }
}
