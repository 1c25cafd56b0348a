import FerryCore
import Foundation
import Testing

@Suite("PathAccess")
struct PathAccessTests {
    @Test("a secret file open to group or others is named with its mode and what to do, in one wording; a private one is not")
    func openSecretNotice() throws {
        let file = NSTemporaryDirectory() + "ferry-path-access-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: file) }
        #expect(FileManager.default.createFile(atPath: file, contents: Data("s\n".utf8), attributes: [.posixPermissions: 0o644]))
        #expect(
            PathAccess.openSecretNotice(file, what: "join token")
                == "the join token file '\(file)' is open to other users (mode 644): anyone who reads it can use it; chmod 600 it")
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file)
        #expect(PathAccess.openSecretNotice(file, what: "join token") == nil)
        #expect(PathAccess.openSecretNotice(file + "-missing", what: "join token") == nil, "a file that cannot be read is the caller's error")
    }
}
