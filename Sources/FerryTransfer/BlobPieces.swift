/// A blob downloaded in pieces over several connections and handed to its ingest in order: the
/// pure bookkeeping (which piece the next connection takes, which bytes are ready for the
/// ingest); ``PiecedDownload`` does the I/O.
///
/// Pieces of `pieceSize` bytes cover `start..<size` (the last one shorter); connections take
/// them in order, so the bytes the ingest waits for are always in the lowest pieces in flight,
/// and the ingest (what cut-through readers follow) grows while the piece at its end arrives.
public struct BlobPieces: Sendable, Hashable {
    /// Where the ingest was when the download started.
    public let start: Int64
    public let size: Int64
    public let pieceSize: Int64
    /// Bytes each piece holds so far, from its first.
    public private(set) var held: [Int64]
    /// Every byte before this offset was handed to the ingest.
    public private(set) var handedOver: Int64
    private var taken = 0

    public init(start: Int64, size: Int64, pieceSize: Int64) {
        precondition(pieceSize > 0 && start <= size)
        self.start = start
        self.size = size
        self.pieceSize = pieceSize
        let count = Int((size - start + pieceSize - 1) / pieceSize)
        held = Array(repeating: 0, count: count)
        handedOver = start
    }

    public var count: Int { held.count }

    /// The bytes of `piece`.
    public func range(of piece: Int) -> Range<Int64> {
        let lower = start + Int64(piece) * pieceSize
        return lower..<min(lower + pieceSize, size)
    }

    /// The next piece for a connection, in order; nil once every piece is taken.
    public mutating func take() -> Int? {
        guard taken < count else { return nil }
        defer { taken += 1 }
        return taken
    }

    /// Records that `piece` holds `bytes` from its first (a resumed piece keeps what it had).
    public mutating func received(_ bytes: Int64, piece: Int) {
        held[piece] = min(max(bytes, 0), Int64(range(of: piece).count))
    }

    /// The bytes ready for the ingest next: from ``handedOver`` up to the end of what the piece
    /// holding that offset has received; nil while that piece has nothing more.
    public var ready: Range<Int64>? {
        guard handedOver < size else { return nil }
        let piece = Int((handedOver - start) / pieceSize)
        let available = range(of: piece).lowerBound + held[piece]
        return available > handedOver ? handedOver..<available : nil
    }

    /// Records that the ingest now holds every byte before `offset`.
    public mutating func handed(upTo offset: Int64) {
        handedOver = max(handedOver, min(offset, size))
    }

    /// Whether the ingest holds the whole blob.
    public var isComplete: Bool { handedOver == size }
}
