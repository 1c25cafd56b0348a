import FerryCore
import FerryTestSupport
import Foundation

/// A network namespace joined to the root namespace by a veth pair, for a follower whose link a
/// test cuts and restores (`ip link set … down/up`). The namespace reaches the root namespace at
/// ``hostAddress`` and is reached at ``address``; nothing else.
struct NetworkJail: Sendable {
    /// The namespace (`/run/netns/NAME`).
    let name: String
    /// The veth end in the root namespace.
    let hostInterface: String
    /// The root namespace's address on the link, and the namespace's.
    let hostAddress: String
    let address: String

    /// Creates the namespace and the link, with a /30 in 10.253.0.0/16 chosen at random.
    static func create() async throws -> NetworkJail {
        let tag = String(UInt32.random(in: 0..<0xFFFFFF), radix: 16)
        let block = Int.random(in: 0..<16384) * 4
        let jail = NetworkJail(
            name: "fyj-\(tag)", hostInterface: "fyj\(tag)h", hostAddress: "10.253.\(block / 256).\(block % 256 + 1)",
            address: "10.253.\(block / 256).\(block % 256 + 2)")
        let peer = "fyj\(tag)n"
        do {
            for command in [
                ["netns", "add", jail.name],
                ["link", "add", jail.hostInterface, "type", "veth", "peer", "name", peer],
                ["link", "set", peer, "netns", jail.name],
                ["addr", "add", "\(jail.hostAddress)/30", "dev", jail.hostInterface],
                ["link", "set", jail.hostInterface, "up"],
                ["-n", jail.name, "addr", "add", "\(jail.address)/30", "dev", peer],
                ["-n", jail.name, "link", "set", peer, "up"],
                ["-n", jail.name, "link", "set", "lo", "up"],
            ] {
                _ = try await runChecked("/usr/sbin/ip", command)
            }
        } catch {
            await jail.remove()
            throw error
        }
        return jail
    }

    /// Runs `executable` inside the namespace (network only; files and sockets are shared).
    func command(_ executable: String, _ arguments: [String]) -> (String, [String]) {
        ("/usr/bin/nsenter", ["--net=/run/netns/\(name)", executable] + arguments)
    }

    /// Takes the link down (`up: false`) or brings it back.
    func setLink(up: Bool) async throws {
        _ = try await runChecked("/usr/sbin/ip", ["link", "set", hostInterface, up ? "up" : "down"])
    }

    /// Deletes the namespace and with it the link.
    func remove() async {
        _ = try? await runProcess("/usr/sbin/ip", ["netns", "del", name])
        _ = try? await runProcess("/usr/sbin/ip", ["link", "del", hostInterface])
    }
}
