#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An IPv4 or IPv6 address (4 or 16 bytes), classified for the upstream redirect policy.
struct HostAddress: Hashable, Sendable, CustomStringConvertible {
    /// 4 bytes (IPv4) or 16 (IPv6), network order.
    let bytes: [UInt8]

    init?(bytes: [UInt8]) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    /// Parses a literal address (`192.0.2.1`, `::1`, `[::1]`); nil for anything else, names included.
    init?(_ text: String) {
        var literal = Substring(text)
        if literal.hasPrefix("["), literal.hasSuffix("]") { literal = literal.dropFirst().dropLast() }
        var v4 = in_addr()
        if inet_pton(AF_INET, String(literal), &v4) == 1 {
            self.bytes = withUnsafeBytes(of: &v4) { Array($0) }
            return
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, String(literal), &v6) == 1 {
            self.bytes = withUnsafeBytes(of: &v6) { Array($0) }
            return
        }
        return nil
    }

    /// The IPv4 address inside an IPv4-mapped (`::ffff:a.b.c.d`) or IPv4-compatible (`::a.b.c.d`)
    /// IPv6 address, which reach the IPv4 host.
    var embeddedIPv4: HostAddress? {
        guard bytes.count == 16, bytes[0..<10].allSatisfy({ $0 == 0 }) else { return nil }
        // `::a.b.c.d` with a != 0, so that `::1` and `::` stay IPv6.
        guard (bytes[10] == 0xff && bytes[11] == 0xff) || (bytes[10] == 0 && bytes[11] == 0 && bytes[12] != 0)
        else { return nil }
        return HostAddress(bytes: Array(bytes[12...]))
    }

    var isLoopback: Bool {
        if let v4 = embeddedIPv4 { return v4.isLoopback }
        if bytes.count == 4 { return bytes[0] == 127 }
        return bytes == Self.ipv6Loopback
    }

    /// Addresses an upstream must not send the leader to: loopback, link-local (with the cloud
    /// metadata services), unspecified, multicast, broadcast and reserved ranges, and the metadata
    /// services that live outside link-local.
    var isSpecial: Bool {
        if let v4 = embeddedIPv4 { return v4.isSpecial }
        if bytes.count == 4 {
            switch (bytes[0], bytes[1]) {
            case (0, _), (127, _): return true  // "this network", loopback
            case (169, 254): return true  // link-local, 169.254.169.254 metadata
            case (100, 100) where bytes[2] == 100 && bytes[3] == 200: return true  // Alibaba Cloud metadata
            case (224...255, _): return true  // multicast, reserved, broadcast
            default: return false
            }
        }
        if bytes == Self.ipv6Loopback || bytes.allSatisfy({ $0 == 0 }) { return true }  // ::1, ::
        if bytes[0] == 0xfe && (bytes[1] & 0xc0) == 0x80 { return true }  // fe80::/10 link-local
        if bytes[0] == 0xfe && (bytes[1] & 0xc0) == 0xc0 { return true }  // fec0::/10 site-local (deprecated)
        if bytes[0] == 0xff { return true }  // multicast
        if bytes == Self.awsMetadataIPv6 { return true }  // fd00:ec2::254
        return false
    }

    /// Whether a redirect may lead here when the registry itself is at `registry`: an ordinary
    /// address always; a special one only when the registry is at that very address, or both are
    /// loopback (a registry on 127.0.0.1 may send the leader to another port of its own host).
    func isAllowed(forRegistryAt registry: [HostAddress]) -> Bool {
        guard isSpecial else { return true }
        if registry.contains(self) { return true }
        return isLoopback && registry.contains { $0.isLoopback }
    }

    var description: String {
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        var address = in6_addr()
        withUnsafeMutableBytes(of: &address) { $0.copyBytes(from: bytes) }
        var text = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
        guard inet_ntop(AF_INET6, &address, &text, socklen_t(text.count)) != nil else { return "?" }
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static let ipv6Loopback: [UInt8] = Array(repeating: 0, count: 15) + [1]
    private static let awsMetadataIPv6: [UInt8] = [0xfd, 0x00, 0x0e, 0xc2] + Array(repeating: 0, count: 10) + [0x02, 0x54]

    /// The addresses `host` resolves to (a literal resolves to itself), as `getaddrinfo` finds
    /// them — the same resolver the HTTP client connects with. Blocking: run it off the event loops.
    static func resolve(_ host: String) -> [HostAddress]? {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        #if canImport(Glibc) || canImport(Musl)
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        #else
        hints.ai_socktype = SOCK_STREAM
        #endif
        var list: UnsafeMutablePointer<addrinfo>?
        var name = host
        if name.hasPrefix("["), name.hasSuffix("]") { name = String(name.dropFirst().dropLast()) }
        guard getaddrinfo(name, nil, &hints, &list) == 0, let first = list else { return nil }
        defer { freeaddrinfo(first) }
        var addresses: [HostAddress] = []
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let current = entry {
            if let socketAddress = current.pointee.ai_addr {
                switch Int32(socketAddress.pointee.sa_family) {
                case AF_INET:
                    var value = socketAddress.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee.sin_addr }
                    addresses.append(HostAddress(bytes: withUnsafeBytes(of: &value) { Array($0) })!)
                case AF_INET6:
                    var value = socketAddress.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee.sin6_addr }
                    addresses.append(HostAddress(bytes: withUnsafeBytes(of: &value) { Array($0) })!)
                default:
                    break
                }
            }
            entry = current.pointee.ai_next
        }
        return addresses.isEmpty ? nil : addresses
    }
}
