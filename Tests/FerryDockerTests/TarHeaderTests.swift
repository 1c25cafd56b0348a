import FerryCore
import FerryTestSupport
import Foundation
import Testing

@testable import FerryDocker

@Suite("TarHeader")
struct TarHeaderTests {
    /// Writes `headers` (with zero content) and the end blocks; returns `tar -tvf`'s lines.
    static func list(_ entries: [(TarHeader, [UInt8])], sparseSize: Int64? = nil) async throws -> [String] {
        try await withTemporaryDirectory("tar-list") { dir in
            var bytes: [UInt8] = []
            for (header, content) in entries {
                bytes += try header.encoded() + content
                bytes += [UInt8](repeating: 0, count: Int(TarHeader.paddedSize(Int64(content.count))) - content.count)
            }
            let path = dir.sub("a.tar")
            #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
            if let sparseSize {
                // Content of a huge entry without writing it: a sparse file, then the end blocks.
                let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
                try handle.truncate(atOffset: UInt64(bytes.count) + UInt64(TarHeader.paddedSize(sparseSize)))
                try handle.seekToEnd()
                try handle.write(contentsOf: Data(count: 1024))
                try handle.close()
            } else {
                let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
                try handle.seekToEnd()
                try handle.write(contentsOf: Data(count: 1024))
                try handle.close()
            }
            let result = try await runProcess("/usr/bin/tar", ["--numeric-owner", "-tvf", path])
            #expect(result.succeeded, "tar: \(result.stderr)")
            #expect(result.stderr.isEmpty, "tar warned: \(result.stderr)")
            return result.stdout.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ") }
        }
    }

    @Test("a file header is byte for byte what GNU tar --format=ustar writes")
    func matchesGNUTar() async throws {
        try await withTemporaryDirectory("tar-gnu") { dir in
            let name = "sha256-" + String(repeating: "ab", count: 32)
            let content = Array("hello, tar\n".utf8)
            #expect(FileManager.default.createFile(atPath: dir.sub(name), contents: Data(content)))
            try await runChecked("/bin/chmod", ["0644", dir.sub(name)])
            try await runChecked("/usr/bin/tar", [
                "--format=ustar", "--mtime=@0", "--owner=0", "--group=0", "--numeric-owner", "-C", dir.path, "-cf", dir.sub("gnu.tar"), name,
            ])
            let gnu = try [UInt8](Data(contentsOf: URL(fileURLWithPath: dir.sub("gnu.tar"))))
            let ours = try TarHeader(name: name, size: Int64(content.count)).encoded()
            #expect(ours.count == 512)
            #expect(Array(gnu.prefix(512)) == ours)
        }
    }

    @Test("tar -tvf reads files and directories with mode, owner, size, time and name")
    func listsEntries() async throws {
        let lines = try await Self.list([
            (TarHeader(name: "blobs/", kind: .directory), []),
            (TarHeader(name: "blobs/sha256/x", size: 1234), [UInt8](repeating: 7, count: 1234)),
            (TarHeader(name: "empty", size: 0), []),
        ])
        #expect(lines == [
            "drwxr-xr-x 0/0 0 1970-01-01 00:00 blobs/",
            "-rw-r--r-- 0/0 1234 1970-01-01 00:00 blobs/sha256/x",
            "-rw-r--r-- 0/0 0 1970-01-01 00:00 empty",
        ])
    }

    @Test("names over 100 bytes go into the ustar prefix; names that cannot are refused")
    func longNames() async throws {
        let long = String(repeating: "d", count: 120) + "/" + String(repeating: "f", count: 90)
        let lines = try await Self.list([(TarHeader(name: long, size: 3), [1, 2, 3])])
        #expect(lines.count == 1)
        #expect(lines.first?.hasSuffix(" " + long) == true)

        #expect(throws: FerryError.self) { try TarHeader(name: String(repeating: "x", count: 101)).encoded() }
        #expect(throws: FerryError.self) { try TarHeader(name: String(repeating: "d", count: 156) + "/f").encoded() }
        #expect(throws: FerryError.self) { try TarHeader(name: "").encoded() }
        #expect(throws: FerryError.self) { try TarHeader(name: "x", size: -1).encoded() }
    }

    @Test("sizes from 8 GiB up use GNU base-256, which tar reads back")
    func hugeSizes() async throws {
        let octalMax = try TarHeader(name: "a", size: TarHeader.maximumOctalSize).encoded()
        #expect(Array(octalMax[124..<136]) == Array("77777777777\0".utf8))

        let size: Int64 = 10 * 1024 * 1024 * 1024 + 3
        let header = try TarHeader(name: "huge.bin", size: size).encoded()
        #expect(header[124] == 0x80)
        let lines = try await Self.list([(TarHeader(name: "huge.bin", size: size), [])], sparseSize: size)
        #expect(lines == ["-rw-r--r-- 0/0 \(size) 1970-01-01 00:00 huge.bin"])
    }

    @Test("padding and entry sizes round up to 512-byte blocks")
    func padding() {
        #expect(TarHeader.paddedSize(0) == 0)
        #expect(TarHeader.paddedSize(1) == 512)
        #expect(TarHeader.paddedSize(512) == 512)
        #expect(TarHeader.paddedSize(513) == 1024)
        #expect(TarHeader.entrySize(contentSize: 513) == 1536)
    }
}
