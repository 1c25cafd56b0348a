import AsyncHTTPClient
import FerryCore
import FerryDiagnostics
import Foundation
import Logging
import NIOCore
import NIOHTTP1

extension RegistryClient {
    /// The size of a blob, from a `HEAD` (retried as every request). Used by `ferry proxy`,
    /// which is asked for blobs by digest alone.
    public func blobSize(repository: ImageReference, digest: Digest, logger: Logger = .disabled) async throws -> Int64 {
        let repository = configuration.routed(repository)
        let host = repository.registry
        let what = "blob \(digest) of \(repository.name)"
        return try await withRetries(what: what, logger: logger) { _ in
            let upstream = try await send(
                .HEAD, host: host, path: "/v2/\(repository.repository)/blobs/\(digest)",
                repository: repository.repository, deadline: .now() + .seconds(60), logger: logger)
            let response = upstream.response
            guard response.status == .ok else {
                if response.status.code == 404 {
                    throw FerryError(.blobUnknown, "\(what) not found on \(host)")
                }
                throw await failure(upstream, host: host, what: what)
            }
            guard let length = response.headers.first(name: "Content-Length").flatMap(Int64.init), length >= 0 else {
                throw FerryError(.upstreamError, "registry \(host) announced no length for \(what)")
            }
            return length
        }
    }

    /// All tags of a repository, following the registry's `Link` pages (at most `limit` tags).
    public func listTags(repository: ImageReference, limit: Int = 100_000, logger: Logger = .disabled) async throws -> [String] {
        struct Body: Decodable { var tags: [String]? }
        let repository = configuration.routed(repository)
        let host = repository.registry
        let what = "the tags of \(repository.name)"
        var path = "/v2/\(repository.repository)/tags/list"
        var tags: [String] = []
        for _ in 0..<1000 {
            let (page, next): ([String], String?) = try await withRetries(what: what, logger: logger) { [path] _ in
                let upstream = try await send(
                    .GET, host: host, path: path, repository: repository.repository, deadline: .now() + .seconds(60), logger: logger)
                let response = upstream.response
                guard response.status == .ok else { throw await failure(upstream, host: host, what: what) }
                let buffer = try await response.body.collect(upTo: 4 * 1024 * 1024)
                guard let body = try? JSONDecoder().decode(Body.self, from: Data(buffer.readableBytesView)) else {
                    throw FerryError(.upstreamError, "registry \(host) sent a tag list of \(repository.name) that is not JSON")
                }
                return (body.tags ?? [], Self.nextLink(response.headers["Link"].first))
            }
            tags += page
            guard let next, tags.count < limit, upstreamPathIsSafe(next, repository: repository.repository) else { break }
            path = next
        }
        return Array(Set(tags)).sorted()
    }

    /// The path of a `Link: <…>; rel="next"` header, if it is one.
    static func nextLink(_ header: String?) -> String? {
        guard let header, header.contains("rel=\"next\""), let open = header.firstIndex(of: "<"),
            let close = header[open...].firstIndex(of: ">")
        else { return nil }
        return String(header[header.index(after: open)..<close])
    }

    /// A next-page link stays on the same repository's tag list (never another host or path).
    private func upstreamPathIsSafe(_ path: String, repository: String) -> Bool {
        path.hasPrefix("/v2/\(repository)/tags/list?") && !path.contains("..") && !path.contains("://")
    }
}
