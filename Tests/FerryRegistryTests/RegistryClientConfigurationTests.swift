import FerryRegistry
import Testing

@Suite("RegistryClientConfiguration: which registries get plain HTTP")
struct RegistryClientConfigurationTests {
    @Test("Loopback registries by address or localhost, with or without a port, get plain HTTP", arguments: [
        "localhost", "localhost:5000", "127.0.0.1:5000", "127.1.2.3", "[::1]:5000", "[::1]", "[::ffff:127.0.0.1]:80",
    ])
    func loopbackIsPlain(host: String) {
        #expect(RegistryClientConfiguration.isLoopback(host))
        #expect(RegistryClientConfiguration().baseURL(for: host) == "http://" + host)
    }

    /// A name that starts like a loopback address is a name, resolved by DNS to anywhere: the
    /// registry's credentials must not go to it in clear.
    @Test("Names that only look like loopback, and other hosts, get HTTPS", arguments: [
        "127.example.com", "127.0.0.1.example.com:5000", "localhost.example.com", "10.0.0.1:5000", "[2001:db8::1]:443", "registry.example.com",
    ])
    func otherHostsAreHTTPS(host: String) {
        #expect(!RegistryClientConfiguration.isLoopback(host))
        #expect(RegistryClientConfiguration().baseURL(for: host) == "https://" + host)
    }

    @Test("An insecure registry is plain; with a cluster CA even loopback is HTTPS")
    func insecureAndClusterCA() {
        var configuration = RegistryClientConfiguration()
        configuration.insecureRegistries = ["registry.lan:5000"]
        #expect(configuration.baseURL(for: "registry.lan:5000") == "http://registry.lan:5000")
        configuration.clusterCA = "/nonexistent/ca.pem"
        #expect(configuration.baseURL(for: "127.0.0.1:5000") == "https://127.0.0.1:5000")
    }
}
