import FerryCore
import FerryProxy
import Testing

@Suite struct ProxyDatabaseURLTests {
    @Test func parsesTCPAndSocketURLs() throws {
        let url = try ProxyDatabaseURL(parsing: "postgres://ferry:s%40cret@db.vendor.example:6543/proxy?sslmode=require")
        #expect(url.host == "db.vendor.example" && url.port == 6543 && url.user == "ferry" && url.password == "s@cret")
        #expect(url.database == "proxy" && url.tls == .require && url.socketDirectory == nil)
        #expect(url.redacted == "postgres://ferry@db.vendor.example:6543/proxy")
        #expect(!"\(url)".contains("cret"))
        let socket = try ProxyDatabaseURL(parsing: "postgresql://ferry:pw@/proxy?host=/run/postgresql")
        #expect(socket.socketDirectory == "/run/postgresql" && socket.port == 5432 && socket.tls == .prefer)
        #expect(socket.redacted == "postgres://ferry@/proxy?host=/run/postgresql")
    }

    @Test(arguments: [
        "mysql://ferry:topsecret@db/proxy", "postgres://ferry:topsecret@db", "postgres://:topsecret@db/proxy",
        "postgres://ferry:topsecret@db/proxy?sslmode=maybe", "postgres://ferry:topsecret@db:99999/proxy", "not a url topsecret",
        "postgres://ferry:topsecret@db/proxy?password=x",
    ])
    func refusesMalformedURLsWithoutRepeatingThem(_ text: String) {
        do {
            _ = try ProxyDatabaseURL(parsing: text)
            Issue.record("accepted \(text)")
        } catch {
            #expect(error.code == .configuration)
            #expect(!error.message.contains("topsecret"), "\(error.message)")
        }
    }
}
