import FerryCore
import FerryProxy
import FerryTestSupport
import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// An audit found the proxy's data directory left 0777 and another user's directory accepted,
/// where the leader tightens or refuses: in either, someone else could replace the token key.
@Suite("Proxy data directory")
struct ProxyDirectoryTests {
    static func mode(_ path: String) -> UInt32 {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? NSNumber)?.uint32Value ?? 0
    }

    @Test("an open data directory is tightened to 0700; its secrets are 0600 whatever the umask; another user's is refused")
    func permissions() async throws {
        try await withTemporaryDirectory("proxy-dir") { directory in
            let path = directory.sub("open")
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
            chmod(path, 0o777)
            let previous = umask(0)
            defer { umask(previous) }
            let proxy = try ProxyDirectory(path)
            #expect(Self.mode(path) == 0o700)
            _ = try proxy.adminToken()
            _ = try proxy.tokenKey()
            #expect(Self.mode(path + "/admin-token") == 0o600 && Self.mode(path + "/token-key") == 0o600)
            if geteuid() == 0 {
                let foreign = directory.sub("foreign")
                try FileManager.default.createDirectory(atPath: foreign, withIntermediateDirectories: true)
                chown(foreign, 65534, 65534)
                do {
                    _ = try ProxyDirectory(foreign)
                    Issue.record("another user's directory was accepted")
                } catch let error as FerryError {
                    #expect(error.message.contains("belongs to another user (uid 65534)"), "\(error.message)")
                }
            }
        }
    }
}
