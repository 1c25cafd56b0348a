import FerryCore
import FerryMesh

extension RolloutRequest {
    /// The repository whose containers the rollout replaces: `--replace` (a repository without a
    /// tag or digest), else the image's own repository.
    func replacedRepository(of image: ImageReference) throws(FerryError) -> ImageReference {
        guard let text = replace else { return ImageReference(registry: image.registry, repository: image.repository) }
        let parsed = try ImageReference(parsing: text)
        // Parsing gives a bare name the tag `latest`: look at the text for a tag of its own.
        guard parsed.digest == nil, !(text.split(separator: "/").last ?? "").contains(":") else {
            throw FerryError(.invalidArgument, "--replace takes a repository without a tag or digest, such as \(parsed.name) (got \(text))")
        }
        return ImageReference(registry: parsed.registry, repository: parsed.repository)
    }
}
