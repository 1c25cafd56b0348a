import Testing

@testable import FerryServer

/// How `--max-connections-per-client` keys a client (the cap itself runs on a real leader in
/// `ConnectionCapTests`).
@Suite("Connections per client: the key")
struct ClientConnectionCapTests {
    @Test("an IPv4 client reached over IPv6 counts as its IPv4 address; other addresses as they are", arguments: [
        ("::ffff:10.0.0.7", "10.0.0.7"), ("::FFFF:127.0.0.1", "127.0.0.1"), ("10.0.0.7", "10.0.0.7"), ("fd00::7", "fd00::7"), ("::ffff:abcd", "::ffff:abcd"),
    ])
    func key(address: String, expected: String) {
        #expect(ClientConnectionCap.Handler.key(address) == expected)
    }

    @Test("places are taken up to the limit, given back once, and an address with none left is forgotten")
    func places() {
        let cap = ClientConnectionCap(limit: 2)
        #expect(cap.admit("10.0.0.7") && cap.admit("10.0.0.7"))
        #expect(!cap.admit("10.0.0.7"), "the third is refused")
        #expect(cap.admit("10.0.0.8"), "another address has its own share")
        cap.leave("10.0.0.7")
        #expect(cap.count(for: "10.0.0.7") == 1)
        #expect(cap.admit("10.0.0.7"))
        cap.leave("10.0.0.7")
        cap.leave("10.0.0.7")
        cap.leave("10.0.0.7")
        #expect(cap.count(for: "10.0.0.7") == 0, "never below zero")
    }
}
