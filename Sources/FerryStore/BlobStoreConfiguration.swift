/// Settings of a ``BlobStore``.
public struct BlobStoreConfiguration: Sendable {
    /// Disk space to leave free after any blob is written, so that SQLite, logs and the rest of
    /// the machine keep working. Default 256 MiB.
    public var reservedSpace: Int64
    /// Bytes buffered in memory before each write to disk. Default 1 MiB.
    public var writeBufferSize: Int
    /// Bytes per read when streaming a blob out. Default 1 MiB.
    public var readChunkSize: Int

    public init(reservedSpace: Int64 = 256 * 1024 * 1024, writeBufferSize: Int = 1024 * 1024, readChunkSize: Int = 1024 * 1024) {
        self.reservedSpace = reservedSpace
        self.writeBufferSize = writeBufferSize
        self.readChunkSize = readChunkSize
    }
}
