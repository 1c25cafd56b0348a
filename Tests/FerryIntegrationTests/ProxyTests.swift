import FerryCore
import FerryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `ferry proxy serve` against real programs: the vendor's `docker-registry` with htpasswd auth
/// upstream, skopeo, `docker login`/`docker pull` through a real `dockerd`, and a Ferry leader
/// with `--mirror` installing onto a follower.
@Suite("Vendor proxy against real programs", .serialized)
struct ProxyTests {
    static let shopPath = "/v2/proxy/shop/vendor/team/app"

    @Test("skopeo pulls through the proxy with the licence as password: the image is byte-identical to the upstream's")
    func skopeoPullIsByteIdentical() async throws {
        try await ProxyFixture.with("proxy-skopeo") { proxy in
            let licence = try await proxy.createLicence()
            let through = proxy.dir.sub("through"), direct = proxy.dir.sub("direct")
            try await Self.skopeo(["--src-creds", "x:\(licence.id)", "docker://\(proxy.host)/proxy/shop/vendor/\(ProxyFixture.app)", "dir:\(through)"])
            try await Self.skopeo(
                ["--src-creds", "\(ProxyFixture.user):\(proxy.password)", "docker://\(proxy.registry.host)/\(ProxyFixture.app)", "dir:\(direct)"])
            let files = try FileManager.default.contentsOfDirectory(atPath: direct).sorted()
            #expect(try FileManager.default.contentsOfDirectory(atPath: through).sorted() == files)
            #expect(files.count >= 4, "manifest, config, busybox and two layers: \(files)")
            for file in files {
                #expect(FileManager.default.contents(atPath: "\(through)/\(file)") == FileManager.default.contents(atPath: "\(direct)/\(file)"), "\(file)")
            }
            // Without the licence skopeo fails.
            let anonymous = try await runProcess(
                "/usr/bin/skopeo", Self.skopeoGlobal + ["copy", "--src-tls-verify=false", "docker://\(proxy.host)/proxy/shop/vendor/\(ProxyFixture.app)", "dir:\(proxy.dir.sub("anon"))"])
            #expect(!anonymous.succeeded)
        }
    }

    @Test("Wrong, revoked and expired licences, other apps, globs, writes, traversal and undefined registries are refused; upstream never asked")
    func refusesBadInput() async throws {
        try await ProxyFixture.with("proxy-bad") { proxy in
            let good = try await proxy.createLicence()
            let revoked = try await proxy.createLicence(customer: "gone")
            try await proxy.revoke(revoked.number)
            // An expiry in the past is refused (it made a licence that could never pull).
            let past = await #expect(throws: (any Error).self) { try await proxy.createLicence(customer: "past", ["--expires", "2020-01-01T00:00:00Z"]) }
            #expect("\(past.map { "\($0)" } ?? "")".contains("is in the past"), "\(String(describing: past))")
            let expired = try await proxy.createLicence(customer: "late", ["--expires", "2s"])
            try await Task.sleep(for: .milliseconds(2100))
            let narrow = try await proxy.createLicence(customer: "narrow", ["--images", "vendor/team/app"])
            let manifest = "\(Self.shopPath)/manifests/1.4"
            var responses: [RawHTTPResponse] = []
            func ask(_ method: String, _ path: String, licence: String? = nil, authorization: String? = nil) async throws -> RawHTTPResponse {
                let response = try await proxy.request(method, path, licence: licence, authorization: authorization)
                responses.append(response)
                return response
            }
            func message(_ response: RawHTTPResponse) -> String { response.text }

            // The good licence pulls (the upstream is asked from here on, for this repository only).
            let ok = try await ask("GET", manifest, licence: good.id)
            #expect(ok.status == 200, "\(ok.text)")
            let before = proxy.upstreamRequests().count

            // No credentials: 401 with a Bearer challenge naming the token endpoint and the scope.
            let none = try await ask("GET", manifest)
            #expect(none.status == 401)
            #expect(none.headers["www-authenticate"]?.hasPrefix("Bearer realm=\"\(proxy.url)/token\"") == true, "\(none.headers)")
            #expect(none.headers["www-authenticate"]?.contains("scope=\"repository:proxy/shop/vendor/team/app:pull\"") == true)
            #expect(try await ask("GET", "/v2/").status == 401)
            // Wrong licences: 401.
            for wrong in ["ferrylic_" + String(repeating: "0", count: 64), "not-a-licence", "", good.id + "0"] {
                let response = try await ask("GET", manifest, licence: wrong)
                #expect(response.status == 401, "\(wrong): \(response.text)")
            }
            #expect(try await ask("GET", manifest, authorization: "Bearer forged.token").status == 401)
            // Revoked and expired: 403 DENIED saying which.
            let gone = try await ask("GET", manifest, licence: revoked.id)
            #expect(gone.status == 403 && gone.errorCodes == ["DENIED"] && gone.text.contains("licence revoked"), "\(gone.text)")
            let late = try await ask("GET", manifest, licence: expired.id)
            #expect(late.status == 403 && late.text.contains("licence expired on 20"), "\(late.text)")
            let lateToken = try await ask("GET", "/token?service=ferry-proxy&scope=repository:proxy/shop/vendor/team/app:pull", licence: expired.id)
            #expect(lateToken.status == 403, "\(lateToken.text)")
            // Another app's image, and outside the licence's globs: 403 naming the repository.
            let other = try await ask("GET", "/v2/proxy/other/vendor/other/secret/manifests/1", licence: good.id)
            #expect(other.status == 403 && other.text.contains("proxy/other/vendor/other/secret"), "\(other.text)")
            let outsideApp = try await ask("GET", "/v2/proxy/shop/vendor/other/secret/manifests/1", licence: good.id)
            #expect(outsideApp.status == 403, "\(outsideApp.text)")
            let outsideLicence = try await ask("GET", "/v2/proxy/shop/vendor/team/tool/manifests/2", licence: narrow.id)
            #expect(outsideLicence.status == 403 && outsideLicence.text.contains("proxy/shop/vendor/team/tool"), "\(outsideLicence.text)")
            // A registry name the app does not define: refused, never contacted.
            for path in ["/v2/proxy/shop/evil/team/app/manifests/1.4", "/v2/proxy/shop/127.0.0.1:9/team/app/manifests/1.4",
                         "/v2/proxy/nosuchapp/vendor/team/app/manifests/1.4"] {
                let response = try await ask("GET", path, licence: good.id)
                #expect([400, 403, 404].contains(response.status), "\(path): \(response.status) \(response.text)")
            }
            // Writes: 405 UNSUPPORTED with a licence, 401 without.
            for (method, path) in [("PUT", manifest), ("POST", "\(Self.shopPath)/blobs/uploads/"), ("PATCH", "\(Self.shopPath)/blobs/uploads/x"),
                                   ("DELETE", manifest), ("DELETE", "\(Self.shopPath)/blobs/sha256:\(String(repeating: "a", count: 64))")] {
                let allowed = try await ask(method, path, licence: good.id)
                #expect(allowed.status == 405 && allowed.errorCodes == ["UNSUPPORTED"], "\(method) \(path): \(allowed.status) \(allowed.text)")
                let anonymous = try await ask(method, path)
                #expect(anonymous.status == 401, "\(method) \(path): \(anonymous.status)")
            }
            // Traversal and encoded dots in app, registry and repository: refused before anything happens.
            for path in ["/v2/proxy/shop/../other/vendor/other/secret/manifests/1", "/v2/proxy/%2e%2e/other/vendor/other/secret/manifests/1",
                         "/v2/proxy/shop/%2E%2E/vendor/other/secret/manifests/1", "/v2/proxy/shop/vendor/team/../../other/vendor/other/secret/manifests/1",
                         "/v2/proxy/shop/vendor/team/%2e%2e/other/secret/manifests/1", "/v2/proxy/shop/vend%6fr/team/app/manifests/1.4",
                         "/v2/proxy/shop/vendor/team/app%2f..%2fsecret/manifests/1.4", "/v2/proxy/shop/vendor//team/app/manifests/1.4",
                         "/v2/proxy/Shop/vendor/team/app/manifests/1.4", "/v2/proxy/shop/vendor/team/app/manifests/..%2f..%2fx"] {
                let response = try await ask("GET", path, licence: good.id)
                #expect([400, 403, 404].contains(response.status), "\(path): \(response.status) \(response.text)")
            }
            // None of the refused requests reached the vendor's registry.
            let after = proxy.upstreamRequests()
            #expect(after.count == before, "\(after.dropFirst(before))")

            // Secrets: the upstream password and every licence ID appear in no response, log line, metric or file of the proxy.
            let adminToken = try String(contentsOfFile: proxy.dataDirectory + "/admin-token", encoding: .utf8).trimmingWhitespace()
            let metrics = try await ask("GET", "/metrics", authorization: "Bearer \(adminToken)")
            #expect(metrics.status == 200 && metrics.text.contains("ferry_proxy_pulls_total"), "\(metrics.status)")
            #expect(try await ask("GET", "/metrics").status == 401)
            let secrets = [proxy.password, good.id, revoked.id, expired.id, narrow.id]
            for response in responses {
                let bytes = Data(response.body) + Data(response.headers.map { "\($0): \($1)\n" }.joined().utf8)
                #expect(!secrets.contains { ProxyFixture.holds(bytes, $0) }, "\(response.statusLine)")
            }
            let log = FileManager.default.contents(atPath: proxy.logPath) ?? Data()
            #expect(log.count > 0)
            #expect(!secrets.contains { ProxyFixture.holds(log, $0) }, "the proxy's log holds a secret")
            #expect(ProxyFixture.filesHolding(secrets, under: proxy.dataDirectory).isEmpty)
            // The audit recorded the pull (and not the secret).
            let usage = try await proxy.manage(["usage", "--json"])
            #expect(usage.contains("proxy/shop/vendor/team/app"))
        }
    }

    @Test("docker login and docker pull through a real dockerd with the licence as password", .requiresRoot("dockerd"))
    func dockerLoginAndPull() async throws {
        try await ProxyFixture.with("proxy-docker") { proxy in
            let licence = try await proxy.createLicence()
            let engine = try await TestDockerEngine.start(in: proxy.dir.sub("docker"))
            do {
                let config = proxy.dir.sub("docker-config")
                func docker(_ arguments: [String]) async throws -> ProcessResult {
                    try await runProcess("/usr/bin/docker", ["--config", config, "-H", engine.host] + arguments)
                }
                let reference = "\(proxy.host)/proxy/shop/vendor/\(ProxyFixture.app)"
                let refused = try await docker(["pull", reference])
                #expect(!refused.succeeded)
                let wrong = try await docker(["login", proxy.host, "-u", "acme", "-p", "ferrylic_" + String(repeating: "1", count: 64)])
                #expect(!wrong.succeeded)
                let login = try await docker(["login", proxy.host, "-u", "acme", "-p", licence.id])
                #expect(login.succeeded, "\(login.stderr)")
                let pull = try await docker(["pull", reference])
                #expect(pull.succeeded, "\(pull.stdout)\n\(pull.stderr)")
                let run = try await engine.run(reference)
                #expect(run.stdout.contains("ferry-image \(ProxyFixture.app) ok"), "\(run.stdout)\n\(run.stderr)")
                // Another app's image is refused, logged in or not.
                let other = try await docker(["pull", "\(proxy.host)/proxy/other/vendor/\(ProxyFixture.secret)"])
                #expect(!other.succeeded)
                #expect(other.stderr.contains("denied") || other.stderr.contains("DENIED"), "\(other.stderr)")
            } catch {
                await engine.stop()
                throw error
            }
            await engine.stop()
        }
    }

    @Test("A leader with the licence and --mirror installs the vendor's original name; followers never see the licence", .requiresRoot("dockerd"))
    func leaderMirrorInstall() async throws {
        try await ProxyFixture.with("proxy-mirror") { proxy in
            let licence = try await proxy.createLicence()
            let auth = proxy.dir.sub("customer-auth.json")
            try #"{"auths":{"\#(proxy.host)":{"username":"acme","password":"\#(licence.id)"}}}"#.write(toFile: auth, atomically: true, encoding: .utf8)
            let original = "registry.vendor.example/\(ProxyFixture.app)"
            let arguments = ["--registry-auth", auth, "--mirror", "registry.vendor.example=\(proxy.host)/proxy/shop/vendor"]
            try await TestCluster.with("proxy-cluster", nodes: ["n1"], leaderArguments: arguments) { cluster in
                let result = try await cluster.ferry(["install", original])
                #expect(result.status == 0, "\(result.stdout)\n\(result.stderr)")
                #expect(try await cluster.engine("n1").imageID(original) != nil)
                let run = try await cluster.engine("n1").run(original)
                #expect(run.stdout.contains("ferry-image \(ProxyFixture.app) ok"), "\(run.stdout)\n\(run.stderr)")
                // Fetched through the proxy with the licence: the audit holds the pulls.
                let usage = try await proxy.manage(["usage", "--licence", String(licence.number), "--json"])
                #expect(usage.contains("proxy/shop/vendor/team/app"), "\(usage)")

                // The licence is on the leader only: no follower file, log, environment or command line holds it.
                let node = try #require(cluster.nodes["n1"])
                #expect(ProxyFixture.filesHolding([licence.id], under: node.directory).isEmpty)
                let pid = try #require(node.process?.pid)
                for file in ["environ", "cmdline"] {
                    let data = FileManager.default.contents(atPath: "/proc/\(pid)/\(file)") ?? Data()
                    #expect(!ProxyFixture.holds(data, licence.id), "/proc/\(pid)/\(file)")
                }
                let leaderLog = FileManager.default.contents(atPath: cluster.leader.dataDirectory + "/leader.log") ?? Data()
                #expect(!ProxyFixture.holds(leaderLog, licence.id), "the leader's log holds the licence")
                // What the leader tells followers about the image (its /v2/ manifest) does not hold it either.
                let status = try await cluster.ferry(["images", "--json"])
                #expect(!ProxyFixture.holds(Data(status.stdout.utf8), licence.id))
            }
        }
    }

    @Test("A licence revoked mid-install: the install fails with the licence error", .requiresRoot("dockerd"))
    func revokedMidInstall() async throws {
        let layers: [TestImages.Layer] = (1...6).map { .init("rv\($0)", "2M") }
        try await ProxyFixture.with("proxy-revoke", images: [ProxyFixture.app: layers]) { proxy in
            let licence = try await proxy.createLicence("shop", customer: "acme", ["--max-rate", "2MiB/s"])
            let shown = try await proxy.manage(["licence", "show", String(licence.number)])
            #expect(shown.contains("\tmax-rate=2.0 MiB/s"), "\(shown)")
            let auth = proxy.dir.sub("customer-auth.json")
            try #"{"auths":{"\#(proxy.host)":{"username":"acme","password":"\#(licence.id)"}}}"#.write(toFile: auth, atomically: true, encoding: .utf8)
            let original = "registry.vendor.example/\(ProxyFixture.app)"
            let arguments = ["--registry-auth", auth, "--mirror", "registry.vendor.example=\(proxy.host)/proxy/shop/vendor", "--max-downloads", "1"]
            try await TestCluster.with("proxy-revoke-cluster", nodes: ["n1"], leaderArguments: arguments) { cluster in
                let install = Task { try await cluster.ferry(["install", original]) }
                // Once a blob went through, revoke: the blobs not yet asked for are refused.
                try await waitUntil("a blob pulled through the proxy", timeout: .seconds(120)) {
                    try await proxy.blobsPulled(licence: licence.number) >= 1
                }
                try await proxy.revoke(licence.number)
                let result = try await install.value
                #expect(result.status != 0)
                #expect((result.stdout + result.stderr).contains("licence revoked"), "\(result.stdout)\n\(result.stderr)")
                #expect(!ProxyFixture.holds(Data((result.stdout + result.stderr).utf8), licence.id))
                // A repository the leader holds no token for: the token service's refusal, with its reason.
                let other = try await cluster.ferry(["fetch", "registry.vendor.example/\(ProxyFixture.tool)"])
                #expect(other.status != 0)
                #expect(other.stderr.contains("refused a token with the configured credentials (HTTP 403: DENIED: licence revoked)"), "\(other.stderr)")
            }
        }
    }

    @Test("Management over HTTP: --proxy URL with the admin token (flags or FERRY_PROXY*), --json; licences and wrong tokens never open it")
    func managementOverHTTP() async throws {
        try await ProxyFixture.with("proxy-admin", images: [ProxyFixture.app: [.init("ad", "1M")]]) { proxy in
            let token = proxy.dataDirectory + "/admin-token"
            let remote = ["--proxy", proxy.url, "--token-file", token]
            let environment = ["FERRY_PROXY": proxy.url, "FERRY_PROXY_TOKEN": try String(contentsOfFile: token, encoding: .utf8).trimmingWhitespace()]
            // Apps: list (flags), add (environment).
            let apps = try await ferry(["proxy", "app", "list", "--json"] + remote)
            #expect(apps.status == 0, "\(apps.stderr)")
            #expect(apps.stdout.contains("\"shop\"") && apps.stdout.contains("\"other\""), "\(apps.stdout)")
            let added = try await ferry(["proxy", "app", "add", "tools", "--registry", "vendor=\(proxy.registry.host)", "--json"], environment: environment)
            #expect(added.status == 0 && added.stdout.contains("\"tools\""), "\(added.stderr)")
            let badApp = try await ferry(["proxy", "app", "add", "Bad_Name", "--registry", "vendor=\(proxy.registry.host)"], environment: environment)
            #expect(badApp.status == 1 && badApp.stderr.contains("invalid app name"), "\(badApp.stderr)")
            // A licence created over HTTP: only the ID on stdout, and it pulls.
            let created = try await ferry(["proxy", "licence", "create", "shop", "--customer", "remote"] + remote)
            #expect(created.status == 0, "\(created.stderr)")
            let licence = created.stdout.trimmingWhitespace()
            #expect(created.stdout.split(separator: "\n").count == 1 && licence.hasPrefix("ferrylic_"))
            #expect(try await proxy.request("GET", "\(Self.shopPath)/manifests/1.4", licence: licence).status == 200)
            let list = try await ferry(["proxy", "licence", "list", "--json"] + remote)
            struct Printed: Decodable { var id: Int64; var customer: String; var state: String }
            let listed = try JSONDecoder().decode([Printed].self, from: Data(list.stdout.utf8))
            let number = try #require(listed.first { $0.customer == "remote" }?.id)
            let shown = try await ferry(["proxy", "licence", "show", String(number), "--json"], environment: environment)
            #expect(shown.status == 0 && shown.stdout.contains("\"manifests\" : 1"), "\(shown.stdout)\(shown.stderr)")
            let usage = try await ferry(["proxy", "usage", "--licence", String(number), "--since", "1h", "--json"] + remote)
            #expect(usage.status == 0 && usage.stdout.contains("proxy/shop/vendor/team/app"), "\(usage.stdout)\(usage.stderr)")
            let revoked = try await ferry(["proxy", "licence", "revoke", String(number), "--json"] + remote)
            #expect(revoked.status == 0 && revoked.stdout.contains("\"revoked\""), "\(revoked.stdout)\(revoked.stderr)")
            let refused = try await proxy.request("GET", "\(Self.shopPath)/manifests/1.4", licence: licence)
            #expect(refused.status == 403 && refused.text.contains("licence revoked"))
            #expect(!(list.stdout + shown.stdout + usage.stdout + revoked.stdout).contains(licence), "only create shows the ID")
            // Wrong or missing tokens, and licences, never open the management API.
            let wrong = try await ferry(["proxy", "licence", "list", "--proxy", proxy.url], environment: ["FERRY_PROXY_TOKEN": "ferryadm_" + String(repeating: "0", count: 64)])
            #expect(wrong.status == 1 && wrong.stderr.contains("refused the admin token"), "\(wrong.stderr)")
            let missing = try await ferry(["proxy", "licence", "list", "--proxy", proxy.url])
            #expect(missing.status == 1 && missing.stderr.contains("no admin token"), "\(missing.stderr)")
            let good = try await proxy.createLicence()
            for (method, path) in [("GET", "/admin/v1/proxy/apps"), ("POST", "/admin/v1/proxy/apps"), ("GET", "/admin/v1/proxy/licences"),
                                   ("POST", "/admin/v1/proxy/licences"), ("GET", "/admin/v1/proxy/licences/1"), ("POST", "/admin/v1/proxy/licences/1/revoke"),
                                   ("GET", "/admin/v1/proxy/usage")] {
                #expect(try await proxy.request(method, path).status == 401, "\(method) \(path)")
                #expect(try await proxy.request(method, path, licence: good.id).status == 401, "\(method) \(path) with a licence (Basic)")
                #expect(try await proxy.request(method, path, authorization: "Bearer \(good.id)").status == 401, "\(method) \(path) with a licence (Bearer)")
            }
        }
    }

    static var skopeoGlobal: [String] {
        FileManager.default.fileExists(atPath: "/etc/containers/policy.json") ? [] : ["--insecure-policy"]
    }

    static func skopeo(_ arguments: [String]) async throws {
        try await runChecked("/usr/bin/skopeo", skopeoGlobal + ["copy", "--src-tls-verify=false"] + arguments)
    }
}
