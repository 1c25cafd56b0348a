/// Settings of a ``BlobStore``.
public struct BlobStoreConfiguration: Sendable {
    /// Disk space to leave free after any blob is written, so that SQLite, logs and the rest of
    /// the machine keep working. Default 256 MiB.
    public var reservedSpace: Int64
    /// Bytes buffered in memory before each write to disk. Default 1 MiB.
    public var writeBufferSize: Int
    /// Bytes per read when streaming a blob out. Default 1 MiB.
    public var readChunkSize: Int
    /// When bytes arrive slower than ``writeBufferSize`` fills, the first write this long after
    /// the last write-out writes out what is buffered: readers of a growing blob (peers by
    /// cut-through) see it then. Default 250 ms (a 1 MiB buffer filled at 200 KiB/s would keep
    /// them waiting 5 s, a stall timeout).
    public var flushInterval: Duration

    public init(
        reservedSpace: Int64 = 256 * 1024 * 1024, writeBufferSize: Int = 1024 * 1024, readChunkSize: Int = 1024 * 1024,
        flushInterval: Duration = .milliseconds(250)
    ) {
        self.flushInterval = flushInterval
        self.reservedSpace = reservedSpace
        self.writeBufferSize = writeBufferSize
        self.readChunkSize = readChunkSize
    }
}
