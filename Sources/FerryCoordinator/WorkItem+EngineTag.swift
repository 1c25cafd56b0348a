import FerryCore
import FerryMesh

extension WorkItem {
    /// The tag the image gets in the engine: the reference without a digest, or nil (an image
    /// asked for by digest stays untagged).
    var engineTag: String? {
        guard let parsed = try? ImageReference(parsing: reference), let tag = parsed.tag, parsed.digest == nil else { return nil }
        return "\(parsed.registry)/\(parsed.repository):\(tag)"
    }
}
