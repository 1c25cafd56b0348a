import FerryCore
import FerryDocker
import Testing

@Suite("API version negotiation, references, hosts")
struct DockerAPIVersionTests {
    @Test("versions parse as MAJOR.MINOR and compare numerically")
    func parse() {
        #expect(DockerAPIVersion("1.41") == DockerAPIVersion(1, 41))
        #expect(DockerAPIVersion(" 1.52 ")?.description == "1.52")
        #expect(DockerAPIVersion("1.41")?.pathPrefix == "/v1.41")
        for bad in ["", "1", "v1.41", "1.41.0", "a.b", "1.", ".41", "1.-1", "１.41"] {
            #expect(DockerAPIVersion(bad) == nil, "\(bad)")
        }
        #expect(DockerAPIVersion(1, 9) < DockerAPIVersion(1, 41))
        #expect(DockerAPIVersion(1, 52) < DockerAPIVersion(2, 0))
    }

    @Test("the negotiated version is the lower of the client's maximum and the server's")
    func negotiate() {
        #expect(DockerAPIVersion.negotiate(serverHeader: "1.41") == DockerAPIVersion(1, 41))
        #expect(DockerAPIVersion.negotiate(serverHeader: "1.52") == DockerAPIVersion(1, 52))
        #expect(DockerAPIVersion.negotiate(serverHeader: "1.53") == DockerAPIVersion(1, 52))
        #expect(DockerAPIVersion.negotiate(serverHeader: "2.0") == DockerAPIVersion(1, 52))
        #expect(DockerAPIVersion.negotiate(serverHeader: "1.41", clientMaximum: DockerAPIVersion(1, 40)) == DockerAPIVersion(1, 40))
        // No or unreadable header: 1.24, as the Docker CLI assumes.
        #expect(DockerAPIVersion.negotiate(serverHeader: nil) == DockerAPIVersion(1, 24))
        #expect(DockerAPIVersion.negotiate(serverHeader: "garbage") == DockerAPIVersion(1, 24))
        #expect(DockerAPIVersion.negotiate(serverHeader: nil, clientMaximum: DockerAPIVersion(1, 20)) == DockerAPIVersion(1, 20))
    }

    @Test("engine releases decide zstd and OCI layout support")
    func engineInfo() {
        func info(_ version: String) -> DockerEngineInfo { DockerEngineInfo(apiVersion: "1.41", serverVersion: version, os: "linux") }
        #expect(info("20.10.24+dfsg1").majorVersion == 20)
        #expect(!info("20.10.24+dfsg1").readsZstdLayers)
        #expect(info("23.0.0").readsZstdLayers && !info("23.0.0").expectsOCILayout)
        #expect(info("25.0.3").expectsOCILayout)
        #expect(info("dev").majorVersion == nil && !info("dev").readsZstdLayers)
    }

    @Test("a reference splits at the last ':' after the last '/'", arguments: [
        ("127.0.0.1:5000/demo/app:1", "127.0.0.1:5000/demo/app", "1"),
        ("127.0.0.1:5000/demo/app", "127.0.0.1:5000/demo/app", "latest"),
        ("alpine:3", "alpine", "3"),
        ("alpine", "alpine", "latest"),
        ("localhost:5000/a:b", "localhost:5000/a", "b"),
    ])
    func splitReference(reference: String, repository: String, tag: String) {
        let split = DockerClient.splitReference(reference)
        #expect(split.repository == repository && split.tag == tag)
    }

    @Test("hosts: unix:// URLs and absolute paths; other schemes and relative paths are configuration errors")
    func hosts() async throws {
        let client = try DockerClient(host: "unix:///var/run/docker.sock")
        #expect(client.socketPath == "/var/run/docker.sock")
        #expect(client.host == "unix:///var/run/docker.sock")
        try await client.shutdown()
        let plain = try DockerClient(host: "/tmp/x/docker.sock")
        #expect(plain.socketPath == "/tmp/x/docker.sock")
        try await plain.shutdown()
        for bad in ["tcp://127.0.0.1:2375", "ssh://host", "docker.sock", "unix://relative.sock", "", "/" + String(repeating: "a", count: 120)] {
            let error = #expect(throws: FerryError.self, "\(bad)") { _ = try DockerClient(host: bad) }
            #expect(error?.code == .configuration)
        }
    }
}
