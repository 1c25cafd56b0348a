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
        let socketPort = try ProxyDatabaseURL(parsing: "postgres://ferry@/proxy?host=/tmp/pg&port=6001")
        #expect(socketPort.socketDirectory == "/tmp/pg" && socketPort.port == 6001 && socketPort.password == nil)
        #expect(socketPort.redacted == "postgres://ferry@/proxy?host=/tmp/pg&port=6001")
        let rooted = try ProxyDatabaseURL(parsing: "postgres://ferry:pw@db:5433/proxy?sslmode=verify-full&sslrootcert=/etc/ferry/pg-ca.pem")
        #expect(rooted.tls == .require && rooted.rootCertificates == "/etc/ferry/pg-ca.pem" && rooted.port == 5433)
        #expect(try ProxyDatabaseURL(parsing: "postgres://ferry:pw@db/proxy").rootCertificates == nil)
    }

    @Test(arguments: [
        "mysql://ferry:topsecret@db/proxy", "postgres://ferry:topsecret@db", "postgres://:topsecret@db/proxy",
        "postgres://ferry:topsecret@db/proxy?sslmode=maybe", "postgres://ferry:topsecret@db:99999/proxy", "not a url topsecret",
        "postgres://ferry:topsecret@db/proxy?password=x", "postgres://ferry:topsecret@/proxy?host=/tmp/pg&port=x",
        "postgres://ferry:topsecret@db/proxy?sslrootcert=relative.pem",
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
