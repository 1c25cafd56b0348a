#if canImport(Glibc)
import Glibc
#endif

extension NodeAddress {
    /// The address a node advertises, as peers can use it. A follower listening on every
    /// interface (the default `--listen 0.0.0.0:5051`) without `--advertise` advertises the
    /// unspecified host (`0.0.0.0`, `::`), which names no machine: the leader puts in the address
    /// it sees the node's connection come from (`remote`), keeping the port. When it cannot (a
    /// node on `0.0.0.0` seen over IPv6, where nothing of it listens, or no usable remote address)
    /// the answer is nil: no address, so no peer is sent to it (a peer given `0.0.0.0` would
    /// connect to itself). Any other address is kept as sent (a loopback one too: a node
    /// listening on loopback only is reached there or not at all).
    public static func reachable(_ advertised: String?, seenFrom remote: String?) -> String? {
        guard let advertised, let address = try? NodeAddress(parsing: advertised, allowPlainHTTP: true), isUnspecified(address.host)
        else { return advertised }
        guard let remote = remote.map(unmapped), ipv4(remote) || ipv6(remote),
            // A node listening on 0.0.0.0 takes IPv4 only: its IPv6 address (a dual-stack leader
            // reached over IPv6) would be one where nothing listens. `::` takes both.
            ipv4(remote) || ipv6(address.host)
        else { return nil }
        let host = ipv6(remote) ? "[\(remote.lowercased())]" : remote
        return "\(address.scheme.rawValue)://\(host):\(address.port)"
    }

    /// The URL a daemon listening on `host:port` is reached at from this machine: loopback for
    /// the unspecified host, brackets around an IPv6 literal.
    public static func localURL(scheme: String, host: String, port: Int) -> String {
        let local = isUnspecified(host) ? "127.0.0.1" : host
        return "\(scheme)://\(local.contains(":") ? "[\(local)]" : local):\(port)"
    }

    /// `0.0.0.0` or `::`: every interface, no machine in particular.
    static func isUnspecified(_ host: String) -> Bool {
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 { return v4.s_addr == 0 }
        var v6 = in6_addr()
        guard inet_pton(AF_INET6, host, &v6) == 1 else { return false }
        return withUnsafeBytes(of: &v6) { $0.allSatisfy { $0 == 0 } }
    }

    /// An IPv4-mapped IPv6 address (`::ffff:192.0.2.7`, a dual-stack listener's view) as IPv4.
    static func unmapped(_ address: String) -> String {
        let prefix = "::ffff:"
        guard address.lowercased().hasPrefix(prefix) else { return address }
        let rest = String(address.dropFirst(prefix.count))
        return ipv4(rest) ? rest : address
    }
}
