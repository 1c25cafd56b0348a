import FerryCore
import FerryFormats
import Foundation

/// What a tag's manifest is for a client whose `Accept` lists the types it takes, as the CNCF
/// registry (2.8) answers; the leader's, a follower's and the vendor proxy's `/v2/` all decide
/// here. By digest a manifest is always served as it is.
public enum ManifestNegotiation {
    public enum Decision: Sendable, Equatable {
        /// Served as it is: the client takes its type, or takes anything (no `Accept`, a wildcard).
        case asIs
        /// `404 MANIFEST_UNKNOWN` with this message.
        case refused(String)
        /// A Docker manifest list to a client that does not take lists: its `linux/amd64`
        /// manifest instead, the first of these (of types the client takes) that can be had;
        /// ``noPlatformManifest(tag:)`` when none.
        case platformManifest([Digest])
    }

    public static func decide(mediaType: String, bytes: some DataProtocol, accepted: ManifestAccept?, tag: String) -> Decision {
        guard let accepted, !accepted.takes(mediaType) else { return .asIs }
        switch mediaType {
        case MediaType.ociIndex:
            return .refused("tag \(tag.prefix(130)) names an OCI index, and the request's Accept does not take \(MediaType.ociIndex)")
        case MediaType.ociManifest:
            return .refused("tag \(tag.prefix(130)) names an OCI image manifest, and the request's Accept does not take \(MediaType.ociManifest)")
        case MediaType.dockerManifestList:
            guard case .index(let index, _)? = try? ParsedManifest.decode(bytes, contentType: mediaType) else {
                return .refused("tag \(tag.prefix(130)) names a manifest list that cannot be read")
            }
            return .platformManifest(
                index.manifests.filter { accepted.takes($0.mediaType) && $0.platform?.os == "linux" && $0.platform?.architecture == "amd64" }.map(\.digest))
        default:
            // Other types (a Docker manifest to a client listing only OCI types) as they are, as 2.8 does.
            return .asIs
        }
    }

    /// The answer when a list has no `linux/amd64` manifest the client takes (or none could be had).
    public static func noPlatformManifest(tag: String) -> FerryError {
        FerryError(
            .manifestUnknown,
            "tag \(tag.prefix(130)) names a manifest list with no linux/amd64 manifest of a type the request's Accept takes: accept \(MediaType.dockerManifestList), or ask by digest")
    }
}
