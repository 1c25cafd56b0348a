import FerryCore
import Testing

@testable import FerryMesh

/// Node addresses: exactly `https://host:port`, and the source URLs followers build from them.
@Suite("NodeAddress")
struct NodeAddressTests {
    @Test("https://host:port with a DNS name, an IPv4 or a bracketed IPv6 literal", arguments: [
        ("https://node-1.example.com:5051", "node-1.example.com", 5051, "https://node-1.example.com:5051"),
        ("https://NODE.Example.COM:443", "node.example.com", 443, "https://node.example.com:443"),
        ("https://10.0.0.7:1", "10.0.0.7", 1, "https://10.0.0.7:1"),
        ("https://127.0.0.1:65535", "127.0.0.1", 65535, "https://127.0.0.1:65535"),
        ("https://[::1]:5051", "::1", 5051, "https://[::1]:5051"),
        ("https://[FD00::7]:5051", "fd00::7", 5051, "https://[fd00::7]:5051"),
        ("https://a:5051", "a", 5051, "https://a:5051"),
    ])
    func accepted(text: String, host: String, port: Int, normalized: String) throws {
        let address = try NodeAddress(parsing: text)
        #expect(address.scheme == .https)
        #expect(address.host == host)
        #expect(address.port == port)
        #expect(address.description == normalized)
    }

    @Test("Anything else is refused", arguments: [
        "http://127.0.0.1:5051",  // plain HTTP on a TLS mesh
        "http://127.0.0.1:5051/x?y=",
        "http+unix://%2Frun%2Fdocker.sock/x",
        "https+unix://%2Frun%2Fdocker.sock",
        "unix:///run/docker.sock",
        "ftp://host:21",
        "https://host:5051/",
        "https://host:5051/v2",
        "https://host:5051?x=1",
        "https://host:5051#f",
        "https://user:pass@host:5051",
        "https://user@host:5051",
        "https://host",  // no port
        "https://host:",
        "https://host:0",
        "https://host:65536",
        "https://host:+80",
        "https://host:80a",
        "https://:5051",
        "https://::1:5051",  // IPv6 without brackets
        "https://[::1:5051",
        "https://[not-ip]:5051",
        "https://[fe80::1%25eth0]:5051",  // zone ids
        "https://-host:5051",
        "https://host-:5051",
        "https://ho_st:5051",
        "https://ho st:5051",
        "https://host\r\n:5051",
        "https://hôst:5051",
        "https://127.1:5051",  // a shortened IPv4 address resolvers accept
        "https://0x7f000001:5051",
        "https://1.2.3.4.5:5051",
        "https://leader.ferry.invalid:5050",  // the leader's reserved name
        "https://x.ferry.invalid:5050",
        " https://host:5051",
        "HTTPS://host:5051",
        "",
        "https://" + String(repeating: "a.", count: 200) + "b:1",
    ])
    func refused(text: String) {
        #expect(throws: FerryError.self, "\(text)") { try NodeAddress(parsing: text) }
    }

    @Test("http:// only on a plain-HTTP mesh, and still host:port only")
    func plainHTTP() throws {
        #expect(try NodeAddress(parsing: "http://127.0.0.1:5051", allowPlainHTTP: true).description == "http://127.0.0.1:5051")
        #expect(throws: FerryError.self) { try NodeAddress(parsing: "http://127.0.0.1:5051/x?y=", allowPlainHTTP: true) }
        #expect(throws: FerryError.self) { try NodeAddress(parsing: "http+unix://%2Ftmp%2Fs:1", allowPlainHTTP: true) }
    }

    @Test("The leader's URL may omit the port and end in a slash")
    func leaderURL() throws {
        #expect(try NodeAddress(leaderURL: "https://leader.example.com").description == "https://leader.example.com:443")
        #expect(try NodeAddress(leaderURL: "https://10.0.0.1:5050/").description == "https://10.0.0.1:5050")
        #expect(try NodeAddress(leaderURL: "https://[::1]").description == "https://[::1]:443")
        #expect(throws: FerryError.self) { try NodeAddress(leaderURL: "https://10.0.0.1:5050/path") }
        #expect(MeshHTTP.leaderURL(try NodeAddress(leaderURL: "https://10.0.0.1:5050")) == "https://leader.ferry.invalid:5050")
        #expect(MeshHTTP.leaderURL(try NodeAddress(leaderURL: "http://10.0.0.1:5050")) == "http://10.0.0.1:5050")
    }

    static let digest = Digest.sha256(of: Array("blob".utf8))
    static let path = "/v2/lib/app/blobs/\(digest)"

    @Test("Followers build source URLs themselves: the leader's path, a peer's address")
    func sourceURLs() throws {
        let leader = BlobSource(node: "leader", kind: .leader, url: Self.path, token: nil)
        #expect(try leader.fetchURL(repository: "lib/app", digest: Self.digest, leaderBase: "https://leader.ferry.invalid:5050", allowPlainHTTP: false)
            == "https://leader.ferry.invalid:5050" + Self.path)
        let peer = BlobSource(node: "n1", kind: .peer, url: "https://10.0.0.2:5051" + Self.path, token: "t")
        #expect(try peer.fetchURL(repository: "lib/app", digest: Self.digest, leaderBase: "", allowPlainHTTP: false) == "https://10.0.0.2:5051" + Self.path)
    }

    @Test("Any other source URL is refused", arguments: [
        BlobSource(node: "leader", kind: .leader, url: "https://evil:1" + path, token: nil),
        BlobSource(node: "leader", kind: .leader, url: "/v2/other/blobs/\(digest)", token: nil),
        BlobSource(node: "leader", kind: .leader, url: path + "?x", token: nil),
        BlobSource(node: "n1", kind: .peer, url: "http://127.0.0.1:9/x?y=" + path, token: "t"),
        BlobSource(node: "n1", kind: .peer, url: "http://127.0.0.1:9" + path, token: "t"),
        BlobSource(node: "n1", kind: .peer, url: "http+unix://%2Frun%2Fdocker.sock" + path, token: "t"),
        BlobSource(node: "n1", kind: .peer, url: "https://u@127.0.0.1:9" + path, token: "t"),
        BlobSource(node: "n1", kind: .peer, url: "https://127.0.0.1:9/x" + path, token: "t"),
        BlobSource(node: "n1", kind: .peer, url: "https://127.0.0.1:9/v2/other/blobs/\(digest)", token: "t"),
        BlobSource(node: "n1", kind: .peer, url: path, token: "t"),
    ])
    func refusedSources(source: BlobSource) {
        #expect(throws: FerryError.self, "\(source.url)") {
            try source.fetchURL(repository: "lib/app", digest: Self.digest, leaderBase: "https://leader.ferry.invalid:5050", allowPlainHTTP: false)
        }
    }
}
