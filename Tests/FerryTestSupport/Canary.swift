import Foundation

/// A file outside every data directory, to show that no request reached it. Its access time is
/// set far before its modification time, so that even under `relatime` one read of it moves
/// the access time.
public struct Canary: Sendable {
    public let path: String
    public let contents: [UInt8]
    private let before: Stamp

    struct Stamp: Equatable, Sendable {
        var accessed: Date?
        var modified: Date?
        var size: Int?
    }

    public static func create(at path: String) async throws -> Canary {
        let contents = Array("root:x:0:0:canary:/root:/bin/sh\n".utf8)
        guard FileManager.default.createFile(atPath: path, contents: Data(contents)) else {
            throw CanaryError("cannot create the canary \(path)")
        }
        let touched = try await runProcess("/usr/bin/touch", ["-a", "-d", "2000-01-01 00:00:00", path])
        guard touched.succeeded, let stamp = stamp(path), let accessed = stamp.accessed, let modified = stamp.modified, accessed < modified else {
            throw CanaryError("cannot set the canary's access time: \(touched.stderr)")
        }
        return Canary(path: path, contents: contents, before: stamp)
    }

    private init(path: String, contents: [UInt8], before: Stamp) {
        self.path = path
        self.contents = contents
        self.before = before
    }

    static func stamp(_ path: String) -> Stamp? {
        let keys: Set<URLResourceKey> = [.contentAccessDateKey, .contentModificationDateKey, .fileSizeKey]
        guard let values = try? URL(fileURLWithPath: path).resourceValues(forKeys: keys) else { return nil }
        return Stamp(accessed: values.contentAccessDate, modified: values.contentModificationDate, size: values.fileSize)
    }

    /// What happened to the canary: nothing, for servers that kept to their directories. Call
    /// once: it reads the file.
    public func problems() -> [String] {
        guard let now = Self.stamp(path) else { return ["the canary is gone"] }
        var problems: [String] = []
        if now.accessed != before.accessed { problems.append("the canary was read") }
        if now.modified != before.modified || now.size != before.size { problems.append("the canary was changed") }
        if FileManager.default.contents(atPath: path).map(Array.init) != contents { problems.append("the canary's contents differ") }
        return problems
    }
}

/// Every file under `root`, relative to it.
public func fileTree(_ root: String) -> Set<String> {
    Set((try? FileManager.default.subpathsOfDirectory(atPath: root)) ?? [])
}

struct CanaryError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
