import FerryCore
import NIOCore

extension DockerArchive {
    /// Streams the archive to `sink`: each entry's ustar header, its content (blobs read through
    /// the reader chunk by chunk), zero padding to 512 bytes, then two zero blocks.
    ///
    /// Exactly ``contentLength`` bytes are written. A blob that delivers more or fewer bytes than
    /// its entry's size stops the stream with ``FerryError/Code/sizeMismatch`` rather than
    /// produce a malformed tar.
    public func write(to sink: (ByteBuffer) async throws -> Void) async throws {
        for entry in entries {
            let header = try TarHeader(name: entry.path, size: entry.size, kind: entry.content == .directory ? .directory : .file)
                .encoded()
            var buffer = ByteBuffer(bytes: header)
            switch entry.content {
            case .directory:
                try await sink(buffer)
                continue
            case .bytes(let bytes):
                buffer.writeBytes(bytes)
                buffer.writeRepeatingByte(0, count: Self.padding(entry.size))
                try await sink(buffer)
                continue
            case .blob(let digest), .zstdDecompressed(let digest):
                try await sink(buffer)
                var written: Int64 = 0
                let expected = entry.size
                // Passes chunks through, checking that exactly `entry.size` bytes arrive.
                func counted(_ chunk: ByteBuffer) async throws {
                    written += Int64(chunk.readableBytes)
                    guard written <= expected else {
                        throw FerryError(.sizeMismatch, "blob \(digest) is longer than the \(expected) bytes its descriptor states")
                    }
                    try await sink(chunk)
                }
                if case .zstdDecompressed = entry.content {
                    guard let zstd else {
                        throw FerryError(.invalidArgument, "layer \(digest) is to be decompressed but no zstd program is configured")
                    }
                    try await zstd.decompress(digest, reader: reader, to: counted)
                } else {
                    try await reader(digest, counted)
                }
                guard written == expected else {
                    throw FerryError(.sizeMismatch, "blob \(digest) ended after \(written) of the \(expected) bytes its descriptor states")
                }
            }
            let padding = Self.padding(entry.size)
            if padding > 0 { try await sink(ByteBuffer(repeating: 0, count: padding)) }
        }
        try await sink(ByteBuffer(repeating: 0, count: 2 * TarHeader.blockSize))
    }

    private static func padding(_ size: Int64) -> Int {
        Int(TarHeader.paddedSize(size) - size)
    }
}
