import FerryCore

extension BlobStore {
    /// Opens an ingest of `digest` (as ``ingest(_:expectedSize:)``), runs `body` with it, and
    /// closes it whatever `body` does — returns, throws or is cancelled. A `body` that commits
    /// leaves nothing to close. Otherwise the partial file stays for a resume, unless `body`
    /// threw a ``FerryError`` with code `.digestMismatch` or `.sizeMismatch`: those bytes are bad
    /// and are discarded.
    ///
    /// The digest is free for the next ingest as soon as this returns, even from a cancelled task.
    public func withIngest<T>(
        _ digest: Digest,
        expectedSize: Int64,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (BlobIngest) async throws -> T
    ) async throws -> T {
        let ingest = try await ingest(digest, expectedSize: expectedSize)
        do {
            let result = try await body(ingest)
            await ingest.close()
            return result
        } catch {
            await ingest.close(discard: Self.bytesAreBad(error))
            throw error
        }
    }

    /// Whether `error` says the bytes received are not the blob's (so a partial must not be resumed).
    public static func bytesAreBad(_ error: any Error) -> Bool {
        guard let error = error as? FerryError else { return false }
        return error.code == .digestMismatch || error.code == .sizeMismatch
    }
}
