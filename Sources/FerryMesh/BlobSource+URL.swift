import FerryCore

extension BlobSource {
    /// The URL a follower fetches this source from, built by the follower itself: for the leader,
    /// `leaderBase` and the blob path; for a peer, its ``NodeAddress`` and the blob path. Any other
    /// `url` (another path, a query, user info, another scheme, plain HTTP on a TLS mesh) is
    /// refused, so the leader's answer cannot send a follower — and its peer token — elsewhere.
    ///
    /// - Parameters:
    ///   - leaderBase: the base URL requests to the leader go to (``MeshHTTP/leaderURL(_:)``).
    ///   - allowPlainHTTP: whether the mesh runs in plain HTTP (`--insecure-mesh`).
    public func fetchURL(repository: String, digest: Digest, leaderBase: String, allowPlainHTTP: Bool) throws(FerryError) -> String {
        let path = NodeAddress.blobPath(repository: repository, digest: digest)
        switch kind {
        case .leader:
            guard url == path else { throw refused() }
            return leaderBase + path
        case .peer:
            guard url.hasSuffix(path) else { throw refused() }
            let address: NodeAddress
            do {
                address = try NodeAddress(parsing: String(url.dropLast(path.count)), allowPlainHTTP: allowPlainHTTP)
            } catch {
                throw refused()
            }
            return address.blobURL(repository: repository, digest: digest)
        }
    }

    private func refused() -> FerryError {
        FerryError(.upstreamError, "refused the source URL the leader gave for \(node.prefix(63)): not \(kind == .leader ? "/v2/<repository>/blobs/<digest>" : "https://HOST:PORT/v2/<repository>/blobs/<digest>")")
    }
}
