import FerryMesh
import Testing

extension NodeAddressTests {
    @Test(
        "an unspecified advertised host (a follower on every interface) becomes the address its connection came from; anything else is kept",
        arguments: [
            ("https://0.0.0.0:5051", "192.0.2.7", "https://192.0.2.7:5051"),
            ("https://0.0.0.0:5051", "::ffff:192.0.2.7", "https://192.0.2.7:5051"),
            ("https://[::]:5051", "2001:db8::7", "https://[2001:db8::7]:5051"),
            ("http://0.0.0.0:5051", "192.0.2.7", "http://192.0.2.7:5051"),
            ("https://0.0.0.0:5051", "127.0.0.1", "https://127.0.0.1:5051"),
            ("https://[::]:5051", "192.0.2.7", "https://192.0.2.7:5051"),
            // Kept: a loopback listener, a real address, a name, nonsense.
            ("https://127.0.0.1:5051", "192.0.2.7", "https://127.0.0.1:5051"),
            ("https://node1.example:5051", "192.0.2.7", "https://node1.example:5051"),
            ("https://198.51.100.3:5051", "192.0.2.7", "https://198.51.100.3:5051"),
            ("https://not a url", "192.0.2.7", "https://not a url"),
        ])
    func reachable(advertised: String, remote: String, expected: String) {
        #expect(NodeAddress.reachable(advertised, seenFrom: remote) == expected)
    }

    @Test("an unspecified host that cannot be replaced is no address: a peer sent to 0.0.0.0 would connect to itself")
    func reachableDropsWhatItCannotReplace() {
        #expect(NodeAddress.reachable(nil, seenFrom: "192.0.2.7") == nil)
        // An IPv4 listener seen over IPv6: nothing of it listens there.
        #expect(NodeAddress.reachable("https://0.0.0.0:5051", seenFrom: "2001:db8::7") == nil)
        #expect(NodeAddress.reachable("https://0.0.0.0:5051", seenFrom: nil) == nil)
        #expect(NodeAddress.reachable("https://[::]:5051", seenFrom: "not an ip") == nil)
    }
}
