import AsyncAlgorithms
import AsyncHTTPClient
import FerryCore
import FerryDiagnostics
import FerryFormats
import Logging
import NIOCore
import NIOHTTP1
import Synchronization

extension DockerClient {
    /// `POST /vX.Y/images/load?quiet=1`: streams `archive` to the engine and reads its JSON
    /// message stream to the end.
    ///
    /// The body is produced by ``DockerArchive/write(to:)`` while it is sent, with a known
    /// `Content-Length`, a few buffers at most in flight: no temporary file, memory flat in the
    /// image size. Success is decided from the stream, not the status (the engine answers 200
    /// before it has read the archive): it fails with ``FerryError/Code/dockerLoadFailed``
    /// ("docker load failed: <the engine's message>") on a non-200 answer, on any message with
    /// `error`/`errorDetail`, on an unreadable stream, or when no `Loaded image` line came.
    /// An error of the blob reader (the caller's store) is rethrown as it is.
    ///
    /// - Returns: what the engine loaded: tags, or `sha256:` image IDs for untagged images.
    public func load(_ archive: DockerArchive, logger: Logger = .disabled) async throws -> [String] {
        let uri = try await versioned("/images/load?quiet=1", logger: logger)
        let body = LoadBody()
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/x-tar")
        logger.debug(
            "docker load starting",
            metadata: [
                "docker.host": "\(host)", "docker.archive.bytes": "\(archive.contentLength)",
                "docker.archive.entries": "\(archive.entries.count)",
            ])

        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                do {
                    try await archive.write { buffer in try await body.send(buffer) }
                    body.channel.finish()
                } catch {
                    body.channel.fail(error)
                    throw error
                }
            }
            do {
                let report = try await exchange(uri, headers: headers, body: body, length: archive.contentLength, logger: logger)
                // The engine has answered in full, so it read the whole body: the writer is done.
                body.stop()
                if let writerError = await Self.firstWriterError(&group) { throw writerError }
                let loaded = try report.result()
                logger.debug("docker load finished", metadata: ["docker.loaded": "\(loaded.joined(separator: ", "))"])
                return loaded
            } catch {
                body.stop()
                // A failing reader (the caller's store) explains a broken upload better than the
                // transport's error does; the engine's own verdict stays first.
                if let writerError = await Self.firstWriterError(&group), (error as? FerryError)?.code != .dockerLoadFailed {
                    throw writerError
                }
                throw error
            }
        }
    }

    /// Waits for the archive writer; returns its error unless it only stopped because the
    /// upload had ended.
    private static func firstWriterError(_ group: inout ThrowingTaskGroup<Void, any Error>) async -> (any Error)? {
        var first: (any Error)?
        while true {
            do {
                guard try await group.next() != nil else { return first }
            } catch is UploadStopped {
            } catch is CancellationError {
            } catch {
                if first == nil { first = error }
            }
        }
    }

    /// Sends the load request with the body from `body`; reads and parses the answer.
    private func exchange(
        _ uri: String, headers: HTTPHeaders, body: LoadBody, length: Int64, logger: Logger
    ) async throws -> DockerLoadReport {
        let response = try await send(
            .POST, uri, headers: headers, body: .stream(body.requestBody, length: .known(length)),
            timeout: configuration.loadTimeout, logger: logger)
        guard response.status == .ok else {
            let message = await engineMessage(response)
            throw FerryError(.dockerLoadFailed, "docker load failed: \(message)")
        }
        var parser = DockerJSONMessageParser()
        var report = DockerLoadReport()
        do {
            for try await buffer in response.body {
                for message in try parser.feed(buffer.readableBytesView) {
                    report.add(message)
                    if let error = message.errorMessage {
                        logger.debug("docker load reported an error", metadata: ["docker.error": "\(error)"])
                    }
                }
            }
            for message in try parser.finish() { report.add(message) }
        } catch let error as DockerJSONMessageParser.ParseError {
            throw FerryError(.dockerLoadFailed, "docker load failed: the engine's answer could not be read: \(error.message)")
        }
        return report
    }
}

/// The request body of a `docker load`: ``DockerArchive/write(to:)`` sends buffers into
/// `channel` (and finishes or fails it), the HTTP client reads ``requestBody``.
///
/// The channel hands each buffer over only when it is read, and ``requestBody`` reads at most
/// ``capacity`` buffers ahead of the HTTP client: the writer runs no further ahead of the socket
/// than that, so memory stays flat however large the archive. A writer error reaches the HTTP
/// client after the buffers read before it, and fails the request.
final class LoadBody: Sendable {
    /// Buffers read ahead of the HTTP client.
    static let capacity = 4

    let channel = AsyncThrowingChannel<ByteBuffer, any Error>()
    private let stopped = Atomic(false)

    /// What the HTTP client reads.
    var requestBody: AsyncBufferSequence<AsyncThrowingChannel<ByteBuffer, any Error>> {
        channel.buffer(policy: .bounded(Self.capacity))
    }

    /// Hands `buffer` to the request body; suspends while ``capacity`` buffers wait. Throws
    /// ``UploadStopped`` after ``stop()``, `CancellationError` when the writer's task is
    /// cancelled (the channel then returns without sending).
    func send(_ buffer: ByteBuffer) async throws {
        await channel.send(buffer)
        if stopped.load(ordering: .acquiring) { throw UploadStopped() }
        try Task.checkCancellation()
    }

    /// Called when the HTTP client reads no more (the engine answered or the request failed):
    /// the writer's waiting and later sends throw ``UploadStopped``.
    func stop() {
        stopped.store(true, ordering: .releasing)
        channel.finish()
    }
}

/// Ends the archive writer once the engine has answered or the request failed.
struct UploadStopped: Error {}
