import FerryCore
import FerryRegistry
import Testing

@Suite("RegistryMirror: --mirror ORIGINAL_HOST=MIRROR_HOST[/PATH]")
struct RegistryMirrorTests {
    @Test func parsesHostAndPrefix() throws {
        let mirror = try RegistryMirror(parsing: "registry.vendor.example=proxy.vendor.example:5443/proxy/shop/vendor/")
        #expect(mirror.original == "registry.vendor.example")
        #expect(mirror.host == "proxy.vendor.example:5443")
        #expect(mirror.prefix == "proxy/shop/vendor")
        #expect(mirror.description == "registry.vendor.example=proxy.vendor.example:5443/proxy/shop/vendor")
        let bare = try RegistryMirror(parsing: "docker.io=mirror.example")
        #expect(bare.host == "mirror.example" && bare.prefix.isEmpty)
        #expect(try RegistryMirror(parsing: "index.docker.io=127.0.0.1:5000/hub").original == "docker.io")
    }

    @Test(arguments: [
        "registry.vendor.example", "=proxy.example/p", "registry.vendor.example=", "vendor=proxy.example/p", "a.example=/p",
        "a.example=proxy.example/UPPER", "a.example=proxy.example/../x", "a.example=proxy.example//x", "a.example=a.example",
        "a.example/x=proxy.example", "a.example=proxy.example/%2e%2e",
    ])
    func refusesBadMirrors(_ text: String) {
        #expect(throws: FerryError.self) { try RegistryMirror(parsing: text) }
    }

    @Test func routesOnlyItsRegistry() throws {
        var configuration = RegistryClientConfiguration()
        let mirror = try RegistryMirror(parsing: "registry.vendor.example=127.0.0.1:5443/proxy/shop/vendor")
        configuration.mirrors[mirror.original] = mirror
        let digest = try Digest(parsing: "sha256:" + String(repeating: "a", count: 64))
        let original = try ImageReference(parsing: "registry.vendor.example/team/app:1.4")
        #expect(configuration.routed(original).description == "127.0.0.1:5443/proxy/shop/vendor/team/app:1.4")
        #expect(configuration.routed(original.with(digest: digest)).description == "127.0.0.1:5443/proxy/shop/vendor/team/app:1.4@\(digest)")
        let other = try ImageReference(parsing: "registry.other.example/team/app:1.4")
        #expect(configuration.routed(other) == other)
        #expect(configuration.routedHost("registry.vendor.example") == "127.0.0.1:5443")
        #expect(configuration.routedHost("registry.other.example") == "registry.other.example")
    }
}
