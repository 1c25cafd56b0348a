import FerryConcurrency
import FerryCore
import NIOCore
import NIOFileSystem

extension BlobStore {
    /// Where a blob stands in this store, for serving it.
    public enum Availability: Sendable {
        /// Committed: `size` bytes, all verified.
        case complete(size: Int64)
        /// Still arriving: serve it by cut-through, following `progress`.
        case growing(IngestProgress)
        case absent
    }

    public func availability(of digest: Digest) -> Availability {
        if let size = size(of: digest) { return .complete(size: size) }
        if let progress = ingestProgress(digest), progress.snapshot.status == .active { return .growing(progress) }
        if let size = size(of: digest) { return .complete(size: size) }  // committed in between
        return .absent
    }

    /// Streams `range` of a blob that is still arriving, waiting for bytes as they are written,
    /// until the range is sent. Throws if the writer gives up, starts over, or stalls for
    /// `stallTimeout`: the receiver then resumes from another source. The bytes are not
    /// verified here (they cannot be yet); every receiver verifies what it got.
    ///
    /// With `holdingBackUntilVerified` the blob's last byte is sent only once the ingest has
    /// verified size and digest (``BlobIngest/verify()``, or its commit), not waiting for the
    /// commit's fsync and rename: a reader that is not to be trusted to verify, or
    /// must never see a whole wrong blob (the Docker engine pulling from the node), gets every
    /// byte but the last as it lands, and a throw instead of the last byte if the blob fails
    /// verification.
    public func readGrowing(
        _ progress: IngestProgress,
        range: Range<Int64>,
        stallTimeout: Duration = .seconds(60),
        holdingBackUntilVerified: Bool = false,
        _ consume: (ByteBuffer) async throws -> Void
    ) async throws {
        let digest = progress.digest
        beginReading(digest)
        defer { endReading(digest) }
        // Opened once: a commit renames the file, and this handle keeps reading it.
        guard let handle = try await openPartial(progress, patience: min(stallTimeout, .seconds(5))) else {
            if size(of: digest) != nil { return try await read(digest, range: range, consume) }
            throw FerryError(.blobUnknown, "blob \(digest) is no longer being received here")
        }
        do {
            let epoch = progress.snapshot.epoch
            var offset = range.lowerBound
            var lastProgress = ContinuousClock.now
            while offset < range.upperBound {
                let generation = progress.signal.generation
                let state = progress.snapshot
                guard state.epoch == epoch, state.status != .closed else {
                    throw FerryError(.upstreamUnreachable, "blob \(digest) stopped arriving here; resume from another source")
                }
                let available =
                    state.status == .committed || state.verified
                    ? progress.expectedSize : holdingBackUntilVerified ? min(state.durable, progress.expectedSize - 1) : state.durable
                if offset < available {
                    let length = min(available, range.upperBound) - offset
                    let chunk = try await handle.readChunk(
                        fromAbsoluteOffset: offset, length: .bytes(min(length, Int64(configuration.readChunkSize))))
                    guard chunk.readableBytes > 0 else {
                        throw FerryError(.internal, "blob \(digest): the partial file is shorter than recorded")
                    }
                    offset += Int64(chunk.readableBytes)
                    lastProgress = .now
                    try await consume(chunk)
                } else {
                    guard ContinuousClock.now - lastProgress < stallTimeout else {
                        throw FerryError(.upstreamUnreachable, "blob \(digest) stalled here; resume from another source")
                    }
                    await progress.signal.wait(after: generation, timeout: min(.seconds(5), stallTimeout))
                    try Task.checkCancellation()
                }
            }
        } catch {
            // Most often the reader's task was cancelled (the client left): a plain close would
            // then do nothing, and a handle dropped open ends the process.
            await BlobIngest.closeEvenIfCancelled(handle)
            throw error
        }
        await BlobIngest.closeEvenIfCancelled(handle)
    }

    /// Opens the partial file of the ingest `progress` follows, or nil once it is not there.
    /// An ingest is announced (``ingestsStarted``, ``Availability/growing(_:)``) a moment before
    /// its file exists, so while the writer is still on and within `patience`, a failed open is
    /// tried again at the writer's next change: a reader that came early (the engine pulling
    /// from the loopback registry, a peer) waits instead of having its response cut.
    private func openPartial(_ progress: IngestProgress, patience: Duration) async throws -> ReadFileHandle? {
        let path = FilePath(ingestPath(for: progress.digest))
        let deadline = ContinuousClock.now + patience
        while true {
            let generation = progress.signal.generation
            if let handle = try? await FileSystem.shared.openFile(forReadingAt: path) { return handle }
            let left = deadline - .now
            guard progress.snapshot.status == .active, left > .zero else { return nil }
            await progress.signal.wait(after: generation, timeout: min(left, .milliseconds(50)))
            try Task.checkCancellation()
        }
    }
}
