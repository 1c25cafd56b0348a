import FerryCore
import Foundation
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// Decompresses zstd blobs by streaming them through the `zstd -dc` program (Debian package
/// `zstd`), for engines older than Docker 23.0, which cannot read zstd layers.
///
/// The blob goes to the program's stdin and its stdout comes back through non-blocking pipes,
/// both with back-pressure: memory stays flat whatever the layer size, and nothing is written
/// to disk.
public struct ZstdDecompressor: Sendable, Hashable {
    /// The path of the `zstd` program.
    public var executable: String

    public init(executable: String) {
        self.executable = executable
    }

    /// The `zstd` found on `PATH` (or in `/usr/bin`), if any.
    public static func find(environment: [String: String] = ProcessInfo.processInfo.environment) -> ZstdDecompressor? {
        let directories = (environment["PATH"] ?? "").split(separator: ":").map(String.init) + ["/usr/bin", "/usr/local/bin"]
        for directory in directories where !directory.isEmpty {
            let path = "\(directory)/zstd"
            if FileManager.default.isExecutableFile(atPath: path) { return ZstdDecompressor(executable: path) }
        }
        return nil
    }

    /// The size and sha256 of `digest`'s blob once decompressed (a pass that keeps nothing).
    public func measure(_ digest: Digest, reader: @escaping DockerArchive.BlobReader) async throws -> DockerArchive.DecompressedLayer {
        var hasher = Digester(.sha256)
        try await decompress(digest, reader: reader) { chunk in
            chunk.withUnsafeReadableBytes { hasher.update($0) }
        }
        return DockerArchive.DecompressedLayer(size: hasher.count, diffID: hasher.finalize())
    }

    /// Streams `digest`'s blob, read through `reader`, into `zstd -dc` and its output to `sink`.
    ///
    /// Throws ``FerryError/Code/dockerLoadFailed`` with zstd's own message when the blob is not
    /// valid zstd, and whatever `reader` or `sink` throw.
    public func decompress(_ digest: Digest, reader: @escaping DockerArchive.BlobReader, to sink: (ByteBuffer) async throws -> Void) async throws {
        let process = try ChildProcess.spawn(executable, ["-d", "-c", "-q"])
        let channel: NIOAsyncChannel<ByteBuffer, ByteBuffer>
        do {
            channel = try await NIOPipeBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                .channelOption(.allowRemoteHalfClosure, value: true)
                .takingOwnershipOfDescriptors(input: process.stdout, output: process.stdin) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try NIOAsyncChannel<ByteBuffer, ByteBuffer>(
                            wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
                    }
                }
        } catch {
            close(process.stdout)
            close(process.stdin)
            process.kill()
            _ = await process.wait()
            throw error
        }

        var failure: (any Error)?
        do {
            try await channel.executeThenClose { inbound, outbound in
                // Either side failing kills zstd, so the other side cannot wait forever on it,
                // and before the pipes close, so the failure is not mistaken for zstd reporting
                // a truncated stream.
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask {
                        do {
                            try await reader(digest) { chunk in try await outbound.write(chunk) }
                            outbound.finish()
                        } catch {
                            process.kill()
                            throw error
                        }
                    }
                    do {
                        for try await chunk in inbound {
                            try await sink(chunk)
                        }
                    } catch {
                        process.kill()
                        throw error
                    }
                    try await group.waitForAll()
                }
            }
        } catch {
            failure = error
        }
        let status = await process.wait()
        let message = process.readStderr()
        // zstd's own verdict (a non-zero exit it chose) explains a broken pipe better than NIO does.
        if status != 0 && (status != 128 + SIGKILL || failure == nil) {
            let detail = message.isEmpty ? "exit status \(status)" : message
            throw FerryError(.dockerLoadFailed, "layer \(digest) could not be decompressed with zstd: \(detail)")
        }
        if let failure { throw failure }
    }
}
