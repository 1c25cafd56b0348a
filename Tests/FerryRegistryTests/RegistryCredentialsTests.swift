import FerryCore
import FerryRegistry
import Foundation
import Testing

@Suite("RegistryCredentials")
struct RegistryCredentialsTests {
    static func base64(_ text: String) -> String { Data(text.utf8).base64EncodedString() }

    static func load(_ json: String) throws(FerryError) -> RegistryCredentials {
        try RegistryCredentials(json: Data(json.utf8), source: "/etc/ferry/auth.json")
    }

    @Test func authFieldIsBase64OfUserColonPassword() throws {
        let credentials = try Self.load(#"{"auths": {"registry.example:5000": {"auth": "\#(Self.base64("alice:s3cr:et"))"}}}"#)
        let credential = try #require(credentials.credential(for: "registry.example:5000"))
        #expect(credential.username == "alice")
        #expect(credential.password == "s3cr:et")
        #expect(credentials.hosts == ["registry.example:5000"])
    }

    @Test func usernameAndPasswordFieldsWinOverAuth() throws {
        let credentials = try Self.load(
            #"{"auths": {"ghcr.io": {"username": "bob", "password": "pw", "auth": "\#(Self.base64("other:x"))"}}}"#)
        #expect(credentials.credential(for: "ghcr.io") == RegistryCredential(username: "bob", password: "pw"))
    }

    @Test("Docker Hub keys all map to docker.io", arguments: [
        "https://index.docker.io/v1/", "index.docker.io", "registry-1.docker.io", "https://registry.hub.docker.com", "docker.io",
    ])
    func dockerHubAliases(_ key: String) throws {
        let credentials = try Self.load(#"{"auths": {"\#(key)": {"auth": "\#(Self.base64("u:p"))"}}}"#)
        #expect(credentials.hosts == ["docker.io"])
        for host in ["docker.io", "index.docker.io", "registry-1.docker.io"] {
            #expect(credentials.credential(for: host)?.password == "p")
        }
    }

    @Test func urlKeysAreReducedToTheirHost() throws {
        let credentials = try Self.load(
            #"{"auths": {"HTTPS://Registry.Example:5000/v2/": {"auth": "\#(Self.base64("u:p"))"}, "http://plain.example": {"username": "v", "password": "q"}}}"#)
        #expect(credentials.hosts == ["plain.example", "registry.example:5000"])
        #expect(credentials.credential(for: "registry.example:5000")?.username == "u")
        #expect(credentials.credential(for: "Registry.Example:5000")?.username == "u")
        #expect(credentials.credential(for: "registry.example") == nil)
    }

    @Test func entriesWithoutCredentialsAndOtherFieldsAreIgnored() throws {
        let credentials = try Self.load(#"{"auths": {"a.example": {}, "b.example": {"auth": ""}}, "credsStore": "desktop", "HttpHeaders": {}}"#)
        #expect(credentials.hosts.isEmpty)
        #expect(try Self.load("{}").hosts.isEmpty)
    }

    static let badAuths: [String] = [
        "!!!not-base64-hunter2!!!",
        base64("no-colon-hunter2"),
        Data([0xff, 0xfe, 0x3a, 0x68]).base64EncodedString(),  // not UTF-8
    ]

    @Test("a bad auth entry is an error that does not repeat the secret", arguments: badAuths)
    func badAuth(_ auth: String) throws {
        do {
            _ = try Self.load(#"{"auths": {"registry.example": {"auth": "\#(auth)"}}}"#)
            Issue.record("accepted a bad auth entry")
        } catch {
            #expect(error.code == .configuration)
            #expect(error.message.contains("registry.example"))
            #expect(error.message.contains("/etc/ferry/auth.json"))
            #expect(!error.message.contains(auth))
            #expect(!error.message.contains("hunter2"))
        }
    }

    @Test func notAConfigFileIsAnErrorWithoutItsContent() {
        do {
            _ = try Self.load(#"{"auths": ["hunter2"]}"#)
            Issue.record("accepted a malformed file")
        } catch {
            #expect(error.code == .configuration)
            #expect(!error.message.contains("hunter2"))
        }
    }

    @Test func missingFileIsAConfigurationError() {
        #expect(throws: FerryError.self) { try RegistryCredentials(contentsOf: "/nonexistent/ferry-auth-\(UUID().uuidString).json") }
    }

    @Test func descriptionRedactsThePassword() {
        let credential = RegistryCredential(username: "alice", password: "hunter2")
        #expect(!credential.description.contains("hunter2"))
        #expect(!"\(credential)".contains("hunter2"))
        #expect(!String(reflecting: credential).contains("hunter2"))
        #expect(credential.description.contains("alice"))
    }

    @Test func basicAuthorizationHeader() {
        #expect(RegistryCredential(username: "user", password: "pass").basicAuthorization == "Basic dXNlcjpwYXNz")
    }

    @Test func programmaticEntriesAreNormalisedToo() {
        let credentials = RegistryCredentials(["https://index.docker.io/v1/": RegistryCredential(username: "u", password: "p")])
        #expect(credentials.credential(for: "docker.io")?.username == "u")
    }
}
