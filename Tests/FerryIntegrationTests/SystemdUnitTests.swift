import FerryCore
import FerryTestSupport
import Foundation
import Testing

/// The units in packaging/systemd: systemd's own checker accepts them, and their ExecStart
/// lines are commands the binary accepts.
@Suite("systemd units")
struct SystemdUnitTests {
    static let units = ["ferry-leader.service", "ferry-follower.service", "ferry-proxy.service"]

    static var analyze: String? {
        ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    @Test("systemd-analyze verify accepts every unit", .enabled(if: analyze != nil, "systemd-analyze is missing: make deps installs the systemd package"))
    func verify() async throws {
        try await withTemporaryDirectory("units") { dir in
            var paths: [String] = []
            for unit in Self.units {
                // verify checks that ExecStart's program exists: point it at the built binary.
                let text = try String(contentsOfFile: "\(RepositoryLayout.root)/packaging/systemd/\(unit)", encoding: .utf8)
                #expect(text.contains("ExecStart=/usr/bin/ferry "), "\(unit)")
                let path = dir.sub(unit)
                try text.replacingOccurrences(of: "/usr/bin/ferry", with: RepositoryLayout.ferryBinary)
                    .write(toFile: path, atomically: true, encoding: .utf8)
                paths.append(path)
            }
            let result = try await runProcess(Self.analyze!, ["verify", "--man=no"] + paths)
            #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
            #expect(result.stderr.isEmpty, "\(result.stderr)")
        }
    }

    @Test("Each unit is Type=notify, restarts on failure and is hardened", arguments: units)
    func hardening(unit: String) throws {
        let text = try String(contentsOfFile: "\(RepositoryLayout.root)/packaging/systemd/\(unit)", encoding: .utf8)
        let lines = Set(text.split(separator: "\n").map(String.init))
        for line in [
            "Type=notify", "Restart=on-failure", "ProtectSystem=strict", "ReadWritePaths=/var/lib/ferry", "NoNewPrivileges=true",
            "PrivateTmp=true",
        ] {
            #expect(lines.contains(line), "\(unit) lacks \(line)")
        }
        let role = unit.replacingOccurrences(of: "ferry-", with: "").replacingOccurrences(of: ".service", with: "")
        #expect(lines.contains { $0.hasPrefix("ExecStart=/usr/bin/ferry ") && $0.hasSuffix("--config /etc/ferry/\(role).toml") })
        #expect(lines.contains("SupplementaryGroups=docker") == (role == "follower"))
    }
}
