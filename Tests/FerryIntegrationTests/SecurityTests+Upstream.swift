import FerryCoordinator
import FerryCore
import FerryMesh
import FerryRegistry
import FerryTestSupport
import Foundation
import Hummingbird
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A hostile or compromised upstream registry must not turn the leader into a probe of its own
/// network (issue 13, finding 10): redirects go only to `https` or back to the registry's own
/// origin, never to loopback, link-local or other special addresses unless the registry is there,
/// and errors about redirect targets echo neither bodies, lengths nor query strings.
extension SecurityTests {
    static let registryName = "registry.ferry.test"
    static let storageName = "storage.ferry.test"
    static let presigned = "X-Amz-Credential=AKIAFERRYTEST&X-Amz-Signature=5ecret5ignature"

    /// A registry with one image (`demo/redir:1`, two layers) behind a ``RedirectingRegistry``.
    static func withRedirectingUpstream(
        _ label: String, bind: String = "127.0.0.1", name: String? = nil, tls: Bool = false,
        location: @escaping RedirectingRegistry.Location,
        _ body: (TemporaryDirectory, TestRegistry, RedirectingRegistry, TestCertificates?) async throws -> Void
    ) async throws {
        try await withTemporaryDirectory(label) { dir in
            let certificates = tls ? try await TestCertificates.make(in: dir.path, names: [registryName, storageName]) : nil
            try await TestRegistry.with(in: dir.sub("registry")) { registry in
                try await TestImages.make("\(registry.host)/demo/redir:1", in: dir.path, layers: [.init("r1", "256K"), .init("r2", "64K")])
                try await RedirectingRegistry.with(registry: registry.url, bind: bind, name: name, tls: certificates, location: location) { front in
                    try await body(dir, registry, front, certificates)
                }
            }
        }
    }

    /// Expects the fetch to have failed on a refused redirect that names the registry and the
    /// refused host, and leaks no query string.
    static func expectRefused(_ status: ImageStatus?, registry: String, refused: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(status?.state == .failed, sourceLocation: sourceLocation)
        #expect(status?.error?.code == "REDIRECT_REFUSED", "\(status?.error?.message ?? "")", sourceLocation: sourceLocation)
        let message = status?.error?.message ?? ""
        #expect(message.contains(registry), "\(message)", sourceLocation: sourceLocation)
        #expect(message.contains(refused), "\(message)", sourceLocation: sourceLocation)
        #expect(!message.contains("5ecret5ignature") && !message.contains("X-Amz") && !message.contains("?"), "\(message)", sourceLocation: sourceLocation)
    }

    @Test("Upstream: an https registry's redirect to plain HTTP on 127.0.0.1 is refused")
    func redirectFromHTTPSToPlainLoopback() async throws {
        let registryPort = Mutex(0)
        try await Self.withRedirectingUpstream("redir-downgrade", name: Self.registryName, tls: true, location: { path, _ in
            "http://127.0.0.1:\(registryPort.withLock { $0 })\(path)?\(Self.presigned)"
        }) { dir, registry, front, certificates in
            registryPort.withLock { $0 = registry.port }
            try await LeaderHarness.with(dataDirectory: dir.sub("leader"), {
                $0.registry.hostOverrides = [Self.registryName: "127.0.0.1"]
                $0.registry.caFile = certificates?.caCertificate
            }) { leader in
                let status = try await leader.fetch(["\(front.authority)/demo/redir:1"]).first
                Self.expectRefused(status, registry: front.authority, refused: "127.0.0.1:\(registry.port)")
            }
            #expect(front.redirects > 0)
            #expect(try await registry.blobGets().isEmpty, "the leader fetched a blob from the redirect target")
        }
    }

    @Test("Upstream: a registry on a non-loopback address may not redirect to 127.0.0.1", .enabled(if: Self.nonLoopbackAddress != nil))
    func redirectFromNonLoopbackToLoopback() async throws {
        let address = try #require(Self.nonLoopbackAddress)
        for scheme in ["http", "https"] {
            let registryPort = Mutex(0)
            try await Self.withRedirectingUpstream("redir-lo-\(scheme)", bind: address, location: { path, _ in
                "\(scheme)://127.0.0.1:\(registryPort.withLock { $0 })\(path)"
            }) { dir, registry, front, _ in
                registryPort.withLock { $0 = registry.port }
                try await LeaderHarness.with(dataDirectory: dir.sub("leader"), { $0.registry.insecureRegistries = [front.authority] }) { leader in
                    let status = try await leader.fetch(["\(front.authority)/demo/redir:1"]).first
                    Self.expectRefused(status, registry: front.authority, refused: "127.0.0.1:\(registry.port)")
                }
                #expect(try await registry.blobGets().isEmpty)
            }
        }
    }

    @Test("Upstream: redirects to the cloud metadata service and other special addresses are refused, names resolved too")
    func redirectToSpecialAddresses() async throws {
        let targets: [(location: String, refused: String)] = [
            ("https://169.254.169.254/latest/meta-data/iam/security-credentials/", "169.254.169.254:443"),
            ("http://169.254.169.254:80/latest/meta-data/", "169.254.169.254:80"),
            ("https://[::ffff:169.254.169.254]/", "::ffff:169.254.169.254"),
            ("https://[fe80::1]:8443/", "[fe80::1]:8443"),
            ("https://0.0.0.0/", "0.0.0.0:443"),
            ("https://metadata.ferry.test/computeMetadata/v1/", "metadata.ferry.test:443"),
        ]
        for (index, target) in targets.enumerated() {
            try await Self.withRedirectingUpstream("redir-special-\(index)", location: { _, _ in "\(target.location)?\(Self.presigned)" }) {
                dir, registry, front, _ in
                try await LeaderHarness.with(dataDirectory: dir.sub("leader"), {
                    // A name that resolves to the metadata address: checked after resolution.
                    $0.registry.hostOverrides = ["metadata.ferry.test": "169.254.169.254"]
                }) { leader in
                    let status = try await leader.fetch(["\(front.authority)/demo/redir:1"]).first
                    Self.expectRefused(status, registry: front.authority, refused: target.refused)
                }
            }
        }
    }

    @Test("Upstream: a registry redirecting without end is refused after a bounded number of hops")
    func redirectLoop() async throws {
        let counter = Mutex(0)
        try await Self.withRedirectingUpstream("redir-loop", location: { path, front in
            "\(front)\(path)?hop=\(counter.withLock { $0 += 1; return $0 })"
        }) { dir, _, front, _ in
            try await LeaderHarness.with(dataDirectory: dir.sub("leader")) { leader in
                let status = try await leader.fetch(["\(front.authority)/demo/redir:1"]).first
                #expect(status?.state == .failed)
                #expect(status?.error?.code == "REDIRECT_REFUSED", "\(status?.error?.message ?? "")")
            }
            // At most three blobs, each given up after the 5 hops allowed plus the one refused.
            #expect(front.redirects <= 3 * 6)
        }
    }

    @Test("Upstream: a same-host redirect and an https redirect to storage on the registry's loopback still pull")
    func allowedRedirectsPull() async throws {
        // Same scheme, host and port: /storage/ on the front itself.
        try await Self.withRedirectingUpstream("redir-same", name: Self.registryName, tls: true, location: { path, front in
            "\(front)/storage\(path)?\(Self.presigned)"
        }) { dir, _, front, certificates in
            try await LeaderHarness.with(dataDirectory: dir.sub("leader"), {
                $0.registry.hostOverrides = [Self.registryName: "127.0.0.1"]
                $0.registry.caFile = certificates?.caCertificate
            }) { leader in
                let status = try #require(try await leader.fetch(["\(front.authority)/demo/redir:1"]).first)
                #expect(status.state == .present, "\(status.error?.message ?? "")")
                #expect(try await expectStoreConsistent(leader.store))
            }
            #expect(front.redirects >= 3, "config and two layers are fetched through the redirect")
            #expect(front.storageRequests == front.redirects)
        }
        // https to another port of the loopback the registry itself is on (storage.ferry.test → 127.0.0.1).
        let storagePort = Mutex(0)
        try await Self.withRedirectingUpstream("redir-https", name: Self.registryName, tls: true, location: { path, _ in
            "https://\(Self.storageName):\(storagePort.withLock { $0 })/storage\(path)?\(Self.presigned)"
        }) { dir, registry, front, certificates in
            try await RedirectingRegistry.with(registry: registry.url, name: Self.storageName, tls: certificates, location: { _, _ in nil }) { storage in
                storagePort.withLock { $0 = storage.port }
                try await LeaderHarness.with(dataDirectory: dir.sub("leader"), {
                    $0.registry.hostOverrides = [Self.registryName: "127.0.0.1", Self.storageName: "127.0.0.1"]
                    $0.registry.caFile = certificates?.caCertificate
                }) { leader in
                    let status = try #require(try await leader.fetch(["\(front.authority)/demo/redir:1"]).first)
                    #expect(status.state == .present, "\(status.error?.message ?? "")")
                    #expect(try await expectStoreConsistent(leader.store))
                }
                #expect(storage.storageRequests == front.redirects && front.redirects >= 3)
            }
        }
    }

    @Test("Upstream: errors about a redirect target echo neither its body, its length nor the URL's query")
    func redirectTargetErrorsAreGeneric() async throws {
        // A target (the registry's own storage path) that answers a registry-style 404 with its own text.
        let missing = "sha256:" + String(repeating: "0", count: 64)
        try await Self.withRedirectingUpstream("redir-404", location: { _, front in
            "\(front)/storage/v2/demo/redir/blobs/\(missing)?\(Self.presigned)"
        }) { dir, _, front, _ in
            try await LeaderHarness.with(dataDirectory: dir.sub("leader")) { leader in
                let status = try #require(try await leader.fetch(["\(front.authority)/demo/redir:1"]).first)
                let message = status.error?.message ?? ""
                #expect(status.state == .failed)
                #expect(message.contains("HTTP 404"), "\(message)")
                #expect(!message.contains("unknown"), "the target's error text was echoed: \(message)")
                #expect(!message.contains("5ecret5ignature") && !message.contains("?"), "\(message)")
            }
        }
        // A target that announces a length other than the blob's.
        let router = Router()
        router.get("/**") { _, _ -> Response in
            Response(status: .ok, body: .init(byteBuffer: ByteBuffer(repeating: 0x41, count: 31_337)))
        }
        let liar = try await BackgroundServer.start(router)
        do {
            try await Self.withRedirectingUpstream("redir-length", location: { path, _ in "\(liar.url)\(path)?\(Self.presigned)" }) {
                dir, _, front, _ in
                try await LeaderHarness.with(dataDirectory: dir.sub("leader")) { leader in
                    let status = try #require(try await leader.fetch(["\(front.authority)/demo/redir:1"]).first)
                    let message = status.error?.message ?? ""
                    #expect(status.state == .failed)
                    #expect(status.error?.code == "SIZE_INVALID", "\(message)")
                    #expect(!message.contains("31337") && !message.contains("31,337"), "the target's length was echoed: \(message)")
                    #expect(!message.contains("5ecret5ignature") && !message.contains("?"), "\(message)")
                }
            }
            await liar.stop()
        } catch {
            await liar.stop()
            throw error
        }
    }

    /// An IPv4 address of this machine other than loopback, if it has one.
    static let nonLoopbackAddress: String? = {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return nil }
        defer { freeifaddrs(first) }
        var entry: UnsafeMutablePointer<ifaddrs>? = first
        while let current = entry {
            defer { entry = current.pointee.ifa_next }
            guard let address = current.pointee.ifa_addr, Int32(address.pointee.sa_family) == AF_INET else { continue }
            var value = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
            var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
            guard inet_ntop(AF_INET, &value, &text, socklen_t(text.count)) != nil else { continue }
            let string = String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if !string.hasPrefix("127.") { return string }
        }
        return nil
    }()
}
