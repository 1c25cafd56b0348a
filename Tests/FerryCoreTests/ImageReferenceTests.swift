import FerryCore
import Foundation
import Testing

@Suite("ImageReference")
struct ImageReferenceTests {
    static let hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    struct Case: Sendable, CustomTestStringConvertible {
        var input: String
        var canonical: String
        var registry: String
        var repository: String
        var tag: String?
        var digest: String?
        var testDescription: String { input }
    }

    static let valid: [Case] = [
        Case(input: "alpine", canonical: "docker.io/library/alpine:latest", registry: "docker.io", repository: "library/alpine", tag: "latest"),
        Case(input: "alpine:3.19", canonical: "docker.io/library/alpine:3.19", registry: "docker.io", repository: "library/alpine", tag: "3.19"),
        Case(input: "library/alpine", canonical: "docker.io/library/alpine:latest", registry: "docker.io", repository: "library/alpine", tag: "latest"),
        Case(input: "docker.io/alpine", canonical: "docker.io/library/alpine:latest", registry: "docker.io", repository: "library/alpine", tag: "latest"),
        Case(input: "index.docker.io/alpine:edge", canonical: "docker.io/library/alpine:edge", registry: "docker.io", repository: "library/alpine", tag: "edge"),
        Case(input: "registry-1.docker.io/library/alpine", canonical: "docker.io/library/alpine:latest", registry: "docker.io", repository: "library/alpine", tag: "latest"),
        Case(input: "bitnami/redis:7", canonical: "docker.io/bitnami/redis:7", registry: "docker.io", repository: "bitnami/redis", tag: "7"),
        Case(input: "ghcr.io/owner/app", canonical: "ghcr.io/owner/app:latest", registry: "ghcr.io", repository: "owner/app", tag: "latest"),
        Case(input: "quay.io/a/b/c:v1.2.3-rc.1_x", canonical: "quay.io/a/b/c:v1.2.3-rc.1_x", registry: "quay.io", repository: "a/b/c", tag: "v1.2.3-rc.1_x"),
        Case(input: "registry.example:5000/team/app:1", canonical: "registry.example:5000/team/app:1", registry: "registry.example:5000", repository: "team/app", tag: "1"),
        Case(input: "127.0.0.1:5000/app", canonical: "127.0.0.1:5000/app:latest", registry: "127.0.0.1:5000", repository: "app", tag: "latest"),
        Case(input: "localhost/app", canonical: "localhost/app:latest", registry: "localhost", repository: "app", tag: "latest"),
        Case(input: "localhost:5000/app:dev", canonical: "localhost:5000/app:dev", registry: "localhost:5000", repository: "app", tag: "dev"),
        // Without a slash `localhost:5000` is a Docker Hub image `localhost` with tag `5000`, as in Docker.
        Case(input: "localhost:5000", canonical: "docker.io/library/localhost:5000", registry: "docker.io", repository: "library/localhost", tag: "5000"),
        Case(input: "[::1]:5000/app:1", canonical: "[::1]:5000/app:1", registry: "[::1]:5000", repository: "app", tag: "1"),
        Case(input: "[fd00::1]/ns/app", canonical: "[fd00::1]/ns/app:latest", registry: "[fd00::1]", repository: "ns/app", tag: "latest"),
        // An uppercase first component is a host, as distribution/reference's splitDockerDomain decides.
        Case(input: "Registry/app", canonical: "Registry/app:latest", registry: "Registry", repository: "app", tag: "latest"),
        Case(input: "a-b/c__d/e--f/g.h/i_j", canonical: "docker.io/a-b/c__d/e--f/g.h/i_j:latest", registry: "docker.io", repository: "a-b/c__d/e--f/g.h/i_j", tag: "latest"),
        Case(input: "alpine:_tag", canonical: "docker.io/library/alpine:_tag", registry: "docker.io", repository: "library/alpine", tag: "_tag"),
        Case(input: "alpine:UPPER", canonical: "docker.io/library/alpine:UPPER", registry: "docker.io", repository: "library/alpine", tag: "UPPER"),
        Case(input: "alpine@sha256:\(hex)", canonical: "docker.io/library/alpine@sha256:\(hex)", registry: "docker.io", repository: "library/alpine", digest: "sha256:\(hex)"),
        Case(
            input: "alpine:3.19@sha256:\(hex)", canonical: "docker.io/library/alpine:3.19@sha256:\(hex)", registry: "docker.io",
            repository: "library/alpine", tag: "3.19", digest: "sha256:\(hex)"),
        Case(
            input: "host:5000/app@sha256:\(hex)", canonical: "host:5000/app@sha256:\(hex)", registry: "host:5000", repository: "app",
            digest: "sha256:\(hex)"),
    ]

    @Test("parses and normalises", arguments: valid)
    func parses(_ c: Case) throws {
        let reference = try ImageReference(parsing: c.input)
        #expect(reference.registry == c.registry)
        #expect(reference.repository == c.repository)
        #expect(reference.tag == c.tag)
        #expect(reference.digest?.description == c.digest)
        #expect(reference.description == c.canonical)
        #expect(reference.name == "\(c.registry)/\(c.repository)")
        // The canonical form parses back to the same value.
        #expect(try ImageReference(parsing: reference.description) == reference)
    }

    static let invalid: [String] = [
        "",
        "Alpine",
        "library/Alpine",
        "ghcr.io/Owner/app",
        "alpine:",
        "alpine:-tag",
        "alpine:.tag",
        "alpine:tag!",
        "alpine:" + String(repeating: "t", count: 129),
        "a//b",
        "/alpine",
        "alpine/",
        "ghcr.io/",
        "alpine-",
        "-alpine",
        "alp..ine",
        "alp___ine",
        "alp_-ine",
        "alp.-ine",
        "alpine@",
        "alpine@sha256:abc",
        "alpine@sha256:" + String(repeating: "A", count: 64),
        "alpine@md5:d41d8cd98f00b204e9800998ecf8427e",
        "alpine@sha256:../../etc",
        "registry.example:/app",
        "registry.example:port/app",
        "registry.example:99999/app",
        "-bad.example/app",
        "bad-.example/app",
        "bad..example/app",
        "[::1/app",
        "[zz::1]/app",
        "[::1]x/app",
        "al pine",
        "alpine:1 2",
        ":tag",
        "@sha256:" + hex,
        "ghcr.io/app/../etc",
        "ghcr.io/" + String(repeating: "a", count: 250),
        String(repeating: "a", count: 1025),
    ]

    @Test("rejects invalid references with NAME_INVALID", arguments: invalid)
    func rejects(_ input: String) {
        do {
            let parsed = try ImageReference(parsing: input)
            Issue.record("'\(input)' parsed as \(parsed)")
        } catch {
            #expect(error.code == .invalidReference)
            #expect(error.message.contains("invalid image reference"))
            #expect(error.message.count < 800)
        }
    }

    @Test func nameLengthLimitCountsTheNormalisedName() throws {
        // 255 = "docker.io/" (10) + "library/" (8) + 237.
        let fits = String(repeating: "a", count: 237)
        let reference = try ImageReference(parsing: fits)
        #expect(reference.name.utf8.count == 255)
        #expect(throws: FerryError.self) { try ImageReference(parsing: fits + "a") }
    }

    @Test func tagOf128CharactersIsAccepted() throws {
        let tag = "a" + String(repeating: "b", count: 127)
        #expect(try ImageReference(parsing: "app:\(tag)").tag == tag)
    }

    @Test func aBare64HexNameIsRefusedAsAmbiguousWithAnImageID() throws {
        // distribution/reference ParseNormalizedNamed: "cannot specify 64-byte hexadecimal strings".
        #expect(throws: FerryError.self) { try ImageReference(parsing: Self.hex) }
        // Only the bare identifier is ambiguous; with a tag or a host it is an ordinary name.
        #expect(try ImageReference(parsing: Self.hex + ":latest").repository == "library/" + Self.hex)
        #expect(try ImageReference(parsing: "ghcr.io/" + Self.hex).repository == Self.hex)
    }

    @Test func manifestReferencePrefersTheDigest() throws {
        #expect(try ImageReference(parsing: "alpine").manifestReference == "latest")
        #expect(try ImageReference(parsing: "alpine:3").manifestReference == "3")
        #expect(try ImageReference(parsing: "alpine:3@sha256:\(Self.hex)").manifestReference == "sha256:\(Self.hex)")
    }

    @Test func withDigestKeepsTheTag() throws {
        let digest = try Digest(parsing: "sha256:\(Self.hex)")
        let pinned = try ImageReference(parsing: "ghcr.io/a/b:1").with(digest: digest)
        #expect(pinned.description == "ghcr.io/a/b:1@sha256:\(Self.hex)")
        #expect(pinned.with(digest: nil).description == "ghcr.io/a/b:1")
    }

    @Test func codableUsesTheCanonicalStringAndValidates() throws {
        let reference = try ImageReference(parsing: "alpine")
        let data = try JSONEncoder().encode([reference])
        #expect(String(decoding: data, as: UTF8.self) == #"["docker.io\/library\/alpine:latest"]"#)
        #expect(try JSONDecoder().decode([ImageReference].self, from: data) == [reference])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([ImageReference].self, from: Data(#"["a//b"]"#.utf8)) }
    }

    @Test("isValidTag follows [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}", arguments: [
        ("latest", true), ("v1.0", true), ("_x", true), ("A-b_c.d", true), ("", false), (".x", false), ("-x", false),
        ("a/b", false), ("a:b", false), ("a+b", false), (String(repeating: "x", count: 128), true), (String(repeating: "x", count: 129), false),
    ])
    func tagGrammar(_ tag: String, _ valid: Bool) {
        #expect(ImageReference.isValidTag(tag) == valid)
    }

    @Test("isValidRepository follows the distribution name grammar", arguments: [
        ("a", true), ("a/b", true), ("a.b", true), ("a_b", true), ("a__b", true), ("a---b", true), ("library/alpine", true),
        ("a0/1b", true), ("", false), ("A", false), ("a//b", false), ("a/", false), ("/a", false), ("a___b", false), ("a.", false),
        ("a._b", false), (".a", false), ("a b", false), ("a/../b", false), ("..", false), (String(repeating: "a", count: 256), false),
    ])
    func repositoryGrammar(_ name: String, _ valid: Bool) {
        #expect(ImageReference.isValidRepository(name) == valid)
    }
}
