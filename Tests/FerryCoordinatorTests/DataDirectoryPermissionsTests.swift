import FerryCore
import Foundation
import Testing

@testable import FerryCoordinator

#if canImport(Glibc)
import Glibc
#endif

/// A data directory is private to the user running the node: opening one tightens what is open
/// to group or others and refuses what belongs to someone else.
@Suite("DataDirectory permissions")
struct DataDirectoryPermissionsTests {
    static func mode(_ path: String) -> mode_t {
        let permissions = (try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? NSNumber
        return mode_t(permissions?.uint32Value ?? 0o7777)
    }

    @Test("the decision per entry: closed is fine, open is tightened keeping the owner's bits, another owner refused, links left alone")
    func decisions() {
        typealias P = DataDirectoryPermissions
        #expect(P.decide(mode: S_IFDIR | 0o700, owner: 5, user: 5) == .fine)
        #expect(P.decide(mode: S_IFDIR | 0o755, owner: 5, user: 5) == .tighten(to: 0o700))
        #expect(P.decide(mode: S_IFREG | 0o644, owner: 5, user: 5) == .tighten(to: 0o600))
        #expect(P.decide(mode: S_IFREG | 0o604, owner: 5, user: 5) == .tighten(to: 0o600))
        #expect(P.decide(mode: S_IFREG | 0o600, owner: 6, user: 5) == .foreign(owner: 6))
        #expect(P.decide(mode: S_IFLNK | 0o777, owner: 6, user: 5) == .fine)
    }

    @Test("a loose directory (0755, files 0644, a store blob) is tightened on open; new files are 0600 whatever the umask")
    func tightened() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-perm-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let blobs = "\(root)/store/blobs/sha256"
        try FileManager.default.createDirectory(atPath: blobs, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        for file in ["\(root)/state.db", "\(root)/admin-token", "\(blobs)/\(String(repeating: "a", count: 64))"] {
            _ = FileManager.default.createFile(atPath: file, contents: Data("x".utf8), attributes: [.posixPermissions: 0o644])
        }
        chmod(root, 0o755)
        chmod("\(root)/store", 0o755)
        chmod("\(root)/store/blobs", 0o755)
        let old = umask(0)
        defer { umask(old) }
        let directory = try DataDirectory(root)
        for path in [root, "\(root)/store", "\(root)/store/blobs", blobs] { #expect(Self.mode(path) == 0o700, "\(path)") }
        for file in ["\(root)/state.db", "\(root)/admin-token", "\(blobs)/\(String(repeating: "a", count: 64))"] {
            #expect(Self.mode(file) == 0o600, "\(file)")
        }
        try directory.writeAtomically("hello\n", to: "\(root)/address")
        #expect(Self.mode("\(root)/address") == 0o600)
        #expect(try directory.securePermissions().isEmpty, "nothing left to tighten")
    }

    @Test("a tree that is not Ferry's is refused untouched; a file is refused untouched; empty, files only, lost+found and Ferry's own are taken")
    func strangers() throws {
        typealias P = DataDirectoryPermissions
        #expect(P.strangerEntry(among: []) == nil)
        #expect(P.strangerEntry(among: [("lost+found", true)]) == nil)
        #expect(P.strangerEntry(among: [("leader.log", false), ("store", true)]) == nil)
        #expect(P.strangerEntry(among: [("state.db", false), ("store", true), ("docker", true)]) == nil)
        #expect(P.strangerEntry(among: [("lock", false), ("admin-token", false)]) == nil)
        #expect(P.strangerEntry(among: [("www", true), ("etc", true), ("lost+found", true), ("a.txt", false)]) == "etc")

        let root = FileManager.default.temporaryDirectory.appendingPathComponent("ferry-stranger-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: "\(root)/site/www", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        _ = FileManager.default.createFile(atPath: "\(root)/site/www/index.html", contents: Data("hi".utf8), attributes: [.posixPermissions: 0o644])
        _ = FileManager.default.createFile(atPath: "\(root)/notes.txt", contents: Data("hi".utf8), attributes: [.posixPermissions: 0o644])
        chmod("\(root)/site", 0o755)
        let refused = #expect(throws: FerryError.self) { try DataDirectory("\(root)/site") }
        #expect(refused?.message.contains("holds a directory Ferry did not make ('www')") == true, "\(String(describing: refused))")
        let file = #expect(throws: FerryError.self) { try DataDirectory("\(root)/notes.txt") }
        #expect(file?.message.contains("is a file, not a directory") == true, "\(String(describing: file))")
        for (path, mode) in [("\(root)/site", 0o755), ("\(root)/site/www", 0o755), ("\(root)/site/www/index.html", 0o644), ("\(root)/notes.txt", 0o644)] {
            #expect(Self.mode(path) == mode_t(mode), "\(path) was changed")
        }
    }
}
