import FerryCore
import FerryTestSupport
import Foundation
import Testing

extension ProxyTests {
    /// docs/proxy.md, *Running it*: one proxy per data directory, as for the leader and followers.
    @Test("A second proxy on a running proxy's data directory is refused with one line; the first keeps its address file and serves on")
    func oneProxyPerDirectory() async throws {
        try await ProxyFixture.with("proxy-lock") { proxy in
            let second = try await ferry(
                ["proxy", "serve", "--data-dir", proxy.dataDirectory, "--listen", "127.0.0.1:0", "--upstream-auth", proxy.upstreamAuthFile])
            #expect(second.status != 0)
            #expect(second.stderr.split(separator: "\n").count == 1, "\(second.stderr)")
            #expect(second.stderr.contains("another Ferry process is using the data directory '\(proxy.dataDirectory)'"), "\(second.stderr)")
            let address = try String(contentsOfFile: proxy.dataDirectory + "/address", encoding: .utf8).trimmingWhitespace()
            #expect(address == proxy.url)
            let ping = try await runProcess("/usr/bin/curl", ["-s", "-o", "/dev/null", "-w", "%{http_code}", "\(proxy.url)/v2/"])
            #expect(ping.stdout == "401")
        }
    }

    @Test("A proxy listening on IPv6 writes a URL with the address in brackets, which its clients can use")
    func ipv6AddressFile() async throws {
        try await ProxyFixture.with("proxy-v6", listen: "[::1]:0") { proxy in
            #expect(proxy.url.hasPrefix("http://[::1]:"), "\(proxy.url)")
            let ping = try await runProcess("/usr/bin/curl", ["-s", "-g", "-o", "/dev/null", "-w", "%{http_code}", "\(proxy.url)/v2/"])
            #expect(ping.stdout == "401", "\(proxy.url): \(ping.stdout)")
        }
    }
}
