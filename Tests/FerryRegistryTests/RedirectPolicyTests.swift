import Foundation
import Testing

@testable import FerryRegistry

@Suite("RedirectPolicy and HostAddress")
struct RedirectPolicyTests {
    static func policy(_ registry: String, plain: Set<String> = []) -> RedirectPolicy {
        RedirectPolicy(
            registry: RedirectPolicy.Origin(URL(string: registry)!)!,
            allowsPlainHTTP: { plain.contains($0) || RegistryClientConfiguration.isLoopback($0) })
    }

    static func check(_ policy: RedirectPolicy, _ target: String, hop: Int = 1) -> Result<RedirectPolicy.Origin, RedirectPolicy.Refusal> {
        policy.check(URL(string: target)!, hop: hop)
    }

    @Test("https is followed anywhere; plain HTTP only to the registry's own origin or allowed hosts of a plain registry")
    func schemes() {
        let https = Self.policy("https://registry.example.com")
        #expect((try? Self.check(https, "https://bucket.s3.amazonaws.com/x?sig=1").get())?.description == "bucket.s3.amazonaws.com:443")
        #expect(Self.check(https, "http://registry.example.com/v2/") == .failure(.plainHTTP))
        #expect(Self.check(https, "http://127.0.0.1:5000/v2/") == .failure(.plainHTTP), "no downgrade from https")
        #expect(Self.check(https, "ftp://registry.example.com/") == .failure(.scheme("ftp")))
        #expect(Self.check(https, "file:///etc/passwd") == .failure(.unusable))
        #expect(Self.check(https, "https://user:pw@cdn.example.com/") == .failure(.userInfo))
        #expect(Self.check(https, "https://cdn.example.com/", hop: 6) == .failure(.tooManyHops))

        let plain = Self.policy("http://registry.lan:5000", plain: ["minio.lan:9000"])
        #expect((try? Self.check(plain, "http://registry.lan:5000/storage").get()) != nil, "same origin")
        #expect((try? Self.check(plain, "http://minio.lan:9000/bucket").get()) != nil, "a host marked insecure")
        #expect(Self.check(plain, "http://other.lan:9000/bucket") == .failure(.plainHTTP))
        #expect(Self.check(plain, "http://registry.lan:5001/") == .failure(.plainHTTP), "another port is another origin")
    }

    @Test("Special addresses: loopback, link-local, metadata, unspecified, multicast, mapped IPv4")
    func specialAddresses() {
        for text in ["127.0.0.1", "127.8.9.10", "169.254.169.254", "0.0.0.0", "224.0.0.1", "255.255.255.255", "100.100.100.200",
                     "::1", "::", "fe80::1", "fd00:ec2::254", "ff02::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254"] {
            #expect(HostAddress(text)?.isSpecial == true, "\(text)")
        }
        for text in ["10.0.0.1", "192.168.1.1", "172.16.0.1", "192.0.2.2", "8.8.8.8", "2001:db8::1", "fd12::1", "::ffff:10.0.0.1"] {
            #expect(HostAddress(text)?.isSpecial == false, "\(text)")
        }
        #expect(HostAddress("[::1]")?.isLoopback == true)
        #expect(HostAddress("registry.example.com") == nil)
        #expect(HostAddress("::ffff:169.254.169.254")?.description == "::ffff:169.254.169.254")
    }

    @Test("A special address is allowed only where the registry itself is")
    func registryAddresses() {
        let loopback = [HostAddress("127.0.0.1")!]
        let lan = [HostAddress("192.0.2.2")!]
        #expect(RedirectPolicy.refusedAddress([HostAddress("127.0.0.1")!], registry: loopback) == nil)
        #expect(RedirectPolicy.refusedAddress([HostAddress("::1")!], registry: loopback) == nil, "loopback to loopback")
        #expect(RedirectPolicy.refusedAddress([HostAddress("127.0.0.1")!], registry: lan) == HostAddress("127.0.0.1"))
        #expect(RedirectPolicy.refusedAddress([HostAddress("169.254.169.254")!], registry: loopback) == HostAddress("169.254.169.254"))
        #expect(RedirectPolicy.refusedAddress([HostAddress("8.8.8.8")!, HostAddress("169.254.169.254")!], registry: lan) != nil, "every address counts")
        #expect(RedirectPolicy.refusedAddress([HostAddress("169.254.10.1")!], registry: [HostAddress("169.254.10.1")!]) == nil)
        #expect(RedirectPolicy.refusedAddress([HostAddress("10.1.2.3")!], registry: lan) == nil)
    }

    @Test("Names are resolved with the system resolver; numeric forms too")
    func resolution() {
        #expect(HostAddress.resolve("localhost")?.allSatisfy(\.isLoopback) == true)
        #expect(HostAddress.resolve("127.1") == [HostAddress("127.0.0.1")!], "getaddrinfo reads short IPv4 forms")
        #expect(HostAddress.resolve("no-such-host.invalid") == nil)
    }
}
