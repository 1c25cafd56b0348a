import FerryCore

/// Picks one entry of an index for a platform. Pure: no I/O.
public enum IndexSelection {
    public enum Outcome: Sendable, Hashable {
        case selected(Descriptor)
        /// Nothing matched; the platforms the index offers, attestations left out.
        case noMatch(available: [Platform])
    }

    /// Skips attestation manifests and media types Ferry does not know (the image spec says
    /// unknown types must not be an error), then takes the best platform match, first in
    /// index order within a rank. An entry without a platform is a candidate only when it is
    /// the only usable one.
    public static func select(from index: ImageIndex, for platform: Platform) -> Outcome {
        let usable = index.manifests.filter { descriptor in
            !descriptor.isAttestation
                && (MediaType.imageManifests.contains(descriptor.mediaType) || MediaType.indexes.contains(descriptor.mediaType))
        }
        let matcher = PlatformMatcher(platform)
        if let best = matcher.best(usable.map(\.platform)) {
            return .selected(usable[best])
        }
        if usable.count == 1, usable[0].platform == nil {
            return .selected(usable[0])
        }
        var seen = Set<Platform>()
        let available = usable.compactMap { $0.platform?.normalized() }.filter { seen.insert($0).inserted }
        return .noMatch(available: available)
    }
}
