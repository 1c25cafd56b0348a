import FerryConcurrency
import FerryCore
import FerryRegistry
import FerryStore
import FerryTransfer
import Logging
import NIOCore
import Synchronization

/// One large blob downloaded from upstream over several connections at once (`--blob-connections`):
/// a single TCP connection through a shaped or long link carries less than the link, several fill it.
///
/// The connections take pieces of the blob in order (``BlobPieces``), each a `Range` GET written
/// into a ``BlobSpool``; the bytes go into the ingest in order as they arrive, so the ingest (what
/// cut-through readers follow, and what hashes and commits) grows while the piece at its end
/// arrives, at most a piece or so behind the fastest connection. Upstream sends each byte once. A
/// registry that answers a piece with the whole blob (it ignores `Range`) fails the download with
/// ``FerryError/Code/unsupported``, and the caller downloads the rest over one connection (pieces
/// already in the spool are then asked for again: only a registry that honours `Range` for some
/// requests and not others costs bytes twice).
struct PiecedDownload: Sendable {
    let client: RegistryClient
    let repository: ImageReference
    let descriptor: Descriptor
    let connections: Int
    let logger: Logger

    /// The pieces' size: each a `Range` GET of its own, and about how far the ingest may lag
    /// behind the fastest connection.
    static let pieceSize: Int64 = 8 << 20

    /// Downloads the rest of the blob into `ingest`, from where it is; `progress` gets the
    /// ingest's offset. Throws the first piece's failure (after the client's retries); the
    /// ingest then holds the bytes handed over so far, for a resume.
    func run(into ingest: BlobIngest, spool: BlobSpool, progress: @escaping @Sendable (Int64) -> Void) async throws {
        let pieces = PieceBoard(BlobPieces(start: await ingest.offset(), size: descriptor.size, pieceSize: Self.pieceSize))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<max(connections, 1) {
                group.addTask { [client, repository, descriptor, logger] in
                    while let (piece, range) = pieces.withLock({ state in state.take().map { ($0, state.range(of: $0)) } }) {
                        let sink = SpooledPiece(spool: spool, range: range, piece: piece, pieces: pieces)
                        try await client.downloadBlob(repository: repository, descriptor: descriptor, into: sink, upTo: range.upperBound, logger: logger)
                    }
                }
            }
            group.addTask {
                try await Self.handOver(pieces, from: spool, into: ingest, progress: progress)
            }
            for try await _ in group {}
        }
    }

    /// Moves the bytes into the ingest in order as the pieces receive them, until it holds the blob.
    private static func handOver(
        _ pieces: PieceBoard, from spool: BlobSpool, into ingest: BlobIngest, progress: @Sendable (Int64) -> Void
    ) async throws {
        let start = pieces.start
        while true {
            let generation = pieces.arrived.generation
            let (ready, complete) = pieces.withLock { ($0.ready, $0.isComplete) }
            if complete { return }
            guard let ready else {
                await pieces.arrived.wait(after: generation, timeout: .seconds(1))
                try Task.checkCancellation()
                continue
            }
            var offset = ready.lowerBound
            while offset < ready.upperBound {
                let chunk = try await spool.read(from: offset - start, length: min(ready.upperBound - offset, Int64(1 << 20)))
                guard chunk.readableBytes > 0 else { throw FerryError(.internal, "the spool of \(ingest.digest) ended early") }
                try await ingest.write(chunk)
                offset += Int64(chunk.readableBytes)
            }
            pieces.withLock { $0.handed(upTo: offset) }
            progress(offset)
        }
    }
}

/// The pieces' state, shared by the connections and the hand-over.
private final class PieceBoard: Sendable {
    private let state: Mutex<BlobPieces>
    /// Notified whenever a piece receives bytes.
    let arrived = ChangeSignal()
    let start: Int64

    init(_ pieces: BlobPieces) {
        state = Mutex(pieces)
        start = pieces.start
    }

    func withLock<T: Sendable>(_ body: (inout BlobPieces) -> T) -> T { state.withLock { body(&$0) } }
}

/// One piece's bytes, written into the spool at their place; the board learns of each chunk.
private struct SpooledPiece: BlobSink {
    let spool: BlobSpool
    let range: Range<Int64>
    let piece: Int
    let pieces: PieceBoard

    var held: Int64 { pieces.withLock { $0.held[piece] } }

    func offset() async throws -> Int64 { range.lowerBound + held }

    func write(_ chunk: ByteBuffer) async throws {
        let at = range.lowerBound + held
        try await spool.write(chunk, at: at - pieces.start)
        pieces.withLock { $0.received(at + Int64(chunk.readableBytes) - range.lowerBound, piece: piece) }
        pieces.arrived.notify()
    }

    func reset() async throws {
        pieces.withLock { $0.received(0, piece: piece) }
    }
}
