import FerryCore
import FerryTestSupport
import Foundation
import Testing

@testable import FerryCoordinator

/// containerd's `hosts.toml` for a follower mirror: the text, and a file only its owner reads.
@Suite("ContainerdHosts")
struct ContainerdHostsTests {
    @Test func textNamesTheUpstreamTheMirrorAndTheCredential() {
        let hosts = ContainerdHosts(registry: "registry.example.com:5000", mirrorURL: "http://127.0.0.1:5052", credential: "s3cret")
        #expect(
            hosts.text == """
                # Written by ferry follower: this node's follower is the mirror of "registry.example.com:5000".
                server = "https://registry.example.com:5000"

                [host."http://127.0.0.1:5052"]
                  capabilities = ["pull", "resolve"]

                [host."http://127.0.0.1:5052".header]
                  Authorization = "Bearer s3cret"

                """)
        #expect(ContainerdHosts(registry: "docker.io", mirrorURL: "http://127.0.0.1:1", credential: "c").server == "https://registry-1.docker.io")
        // Plain HTTP upstreams: loopback hosts always, others given with --insecure-registry.
        #expect(ContainerdHosts(registry: "127.0.0.1:5000", mirrorURL: "http://127.0.0.1:1", credential: "c").server == "http://127.0.0.1:5000")
        #expect(ContainerdHosts(registry: "localhost:5000", mirrorURL: "http://127.0.0.1:1", credential: "c").server == "http://localhost:5000")
        #expect(
            ContainerdHosts(registry: "registry.lan:5000", mirrorURL: "http://127.0.0.1:1", credential: "c", plainHTTP: true).server
                == "http://registry.lan:5000")
        #expect(ContainerdHosts(registry: "registry.lan:5000", mirrorURL: "http://127.0.0.1:1", credential: "c").server == "https://registry.lan:5000")
        let withCA = ContainerdHosts(registry: "r.example", mirrorURL: "https://node-1:5051", credential: "c", caFile: "/d/ca.pem")
        #expect(withCA.text.contains("  ca = \"/d/ca.pem\"\n"))
    }

    @Test func quotingKeepsTheTOMLStringClosed() {
        #expect(ContainerdHosts.quoted("a\"b\\c\nd") == #""a\"b\\c\nd""#)
    }

    @Test func writesOwnerOnlyOnceAndRefusesAPathForAHost() async throws {
        try await withTemporaryDirectory("ferry-hosts") { directory in
            let hosts = ContainerdHosts(registry: "127.0.0.1:5000", mirrorURL: "http://127.0.0.1:5052", credential: "c")
            #expect(try hosts.write(under: directory.path))
            let path = directory.sub("127.0.0.1:5000/hosts.toml")
            #expect(try String(contentsOfFile: path, encoding: .utf8) == hosts.text)
            let mode = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber
            #expect(mode?.intValue == 0o600)
            #expect(try !hosts.write(under: directory.path))
            for bad in ["../etc", "a/b", "", "..", "UPPER_case!"] {
                #expect(throws: FerryError.self) {
                    try ContainerdHosts(registry: bad, mirrorURL: "http://127.0.0.1:1", credential: "c").write(under: directory.path)
                }
            }
            #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path) == ["127.0.0.1:5000"])
        }
    }
}
