import FerryCore
import FerryMesh
import FerryServer
import FerryState

extension LeaderService: AdminBackend {
    public func fetch(_ request: FetchRequest) async throws -> FetchResponse {
        guard !request.images.isEmpty else { throw FerryError(.invalidArgument, "no images given") }
        let platform = try request.platform.map { text throws(FerryError) in try Platform(parsing: text) } ?? configuration.platform
        // Parse everything first: a bad reference rejects the request before anything is queued.
        var references: [ImageReference] = []
        for text in request.images { references.append(try ImageReference(parsing: text)) }
        var statuses: [ImageStatus] = []
        for reference in references {
            let record = try await database.requestImage(reference, platform: platform)
            enqueueFetch(record.id!)
            statuses.append(try await status(of: record, withBlobs: false))
        }
        return FetchResponse(images: statuses)
    }

    public func images() async throws -> ImageList {
        var statuses: [ImageStatus] = []
        for record in try await database.images() {
            statuses.append(try await status(of: record, withBlobs: false))
        }
        return ImageList(images: statuses)
    }

    public func image(id: Int64) async throws -> ImageStatus? {
        guard let record = try await database.image(id: id) else { return nil }
        return try await status(of: record, withBlobs: true)
    }

    func status(of record: ImageRecord, withBlobs: Bool) async throws -> ImageStatus {
        let blobs = try await database.blobs(ofImage: record.id!)
        let blobStatuses = blobs.map { blob in
            let done: Int64 =
                switch blob.state {
                case .present: blob.size
                case .fetching: progress.value(blob.digest) ?? blob.bytesDone
                default: progress.value(blob.digest) ?? 0
                }
            return BlobStatus(
                digest: blob.digest.description, mediaType: blob.mediaType, size: blob.size, bytesDone: done,
                state: blob.state,
                error: blob.errorCode.map { ErrorEntry(code: $0, message: blob.errorMessage ?? $0) })
        }
        return ImageStatus(
            id: record.id!, reference: record.reference, platform: record.platform, resolvedPlatform: record.resolvedPlatform,
            state: record.state, digest: record.topDigest?.description, manifestDigest: record.manifestDigest?.description,
            size: record.size, bytesDone: blobStatuses.reduce(0) { $0 + $1.bytesDone },
            error: record.errorCode.map { ErrorEntry(code: $0, message: record.errorMessage ?? $0) },
            requestedAt: record.requestedAt, fetchedAt: record.fetchedAt,
            blobs: withBlobs ? blobStatuses : nil)
    }
}
