import Testing

@testable import FerryTransfer

/// The bookkeeping of a download in ordered pieces: which piece is next, what is ready for the ingest.
@Suite("BlobPieces")
struct BlobPiecesTests {
    @Test("pieces cover the blob from where the ingest is, the last one shorter, taken in order once")
    func cover() {
        var pieces = BlobPieces(start: 5, size: 25, pieceSize: 8)
        #expect(pieces.count == 3)
        #expect((0..<3).map(pieces.range(of:)) == [5..<13, 13..<21, 21..<25])
        #expect([pieces.take(), pieces.take(), pieces.take(), pieces.take()] == [0, 1, 2, nil])
        #expect(BlobPieces(start: 25, size: 25, pieceSize: 8).count == 0)
        #expect(BlobPieces(start: 25, size: 25, pieceSize: 8).isComplete)
    }

    @Test("only the piece at the ingest's end is ready; a later piece's bytes wait for it")
    func readyInOrder() {
        var pieces = BlobPieces(start: 0, size: 20, pieceSize: 8)
        #expect(pieces.ready == nil)
        pieces.received(8, piece: 1)  // the second piece is whole, the first has nothing
        #expect(pieces.ready == nil)
        pieces.received(3, piece: 0)
        #expect(pieces.ready == 0..<3)
        pieces.handed(upTo: 3)
        #expect(pieces.ready == nil)
        pieces.received(8, piece: 0)
        #expect(pieces.ready == 3..<8)
        pieces.handed(upTo: 8)
        #expect(pieces.ready == 8..<16, "the next piece, already whole, is ready at once")
        pieces.handed(upTo: 16)
        #expect(pieces.ready == nil && !pieces.isComplete)
        pieces.received(4, piece: 2)
        #expect(pieces.ready == 16..<20)
        pieces.handed(upTo: 20)
        #expect(pieces.isComplete && pieces.ready == nil)
    }

    @Test("a piece restarted from its first byte and out-of-range counts are clamped; handing over never goes back")
    func clamps() {
        var pieces = BlobPieces(start: 0, size: 10, pieceSize: 8)
        pieces.received(99, piece: 1)
        #expect(pieces.held[1] == 2)
        pieces.received(5, piece: 0)
        pieces.received(0, piece: 0)
        #expect(pieces.ready == nil)
        pieces.received(8, piece: 0)
        pieces.handed(upTo: 8)
        pieces.handed(upTo: 4)
        #expect(pieces.handedOver == 8)
        pieces.handed(upTo: 50)
        #expect(pieces.handedOver == 10 && pieces.isComplete)
    }
}
