import FerryCore
import FerryDiagnostics
import Logging

extension NodeRollout {
    /// `--cleanup`, once `rollout` succeeded: removes from the engine each image the rollout
    /// replaced here that no container (running or not) uses any more. Only names of the
    /// rollout's repository are removed (its old tag, a `ferry-rollback-…` tag): an image that
    /// also has a name of another repository keeps it, and stays. An image removed already is
    /// passed by; one the engine refuses to remove (a container made from it meanwhile) is
    /// logged and kept. Never throws: what it could not remove is left, named in the log.
    ///
    /// Returns the names removed (an untagged image by its ID).
    public func removeReplacedImages(rollout: String, repository: ImageReference, logger: Logger = .disabled) async -> [String] {
        var removed: [String] = []
        do {
            let replaced = try await switcher.journal.replacedContainers(rollout: rollout)
            let oldImages = Set(replaced.map(\.oldImageID))
            guard !oldImages.isEmpty else { return [] }
            let inUse = Set(try await switcher.containers(logger: logger).map(\.imageID))
            for id in oldImages.sorted() where !inUse.contains(id) {
                guard let image = try await client.inspectImage(id, logger: logger) else { continue }
                let names = Self.namesToRemove(of: image, repository: repository)
                for name in names {
                    do {
                        try await client.removeName(name, logger: logger)
                        removed.append(name)
                    } catch {
                        logger.warning(
                            "cannot remove a replaced image's name", metadata: ["docker.image": "\(name)", "error": "\(Self.message(error))"])
                    }
                }
            }
        } catch {
            logger.warning("cannot remove the images the rollout replaced", metadata: ["error": "\(Self.message(error))"])
        }
        if !removed.isEmpty {
            logger.notice("removed the images the rollout replaced", metadata: ["docker.images": "\(removed)"])
        }
        return removed
    }

    /// The names of `image` a cleanup removes: its tags of `repository`; the image's ID when it
    /// has no tag at all (the tag moved on), so that it goes too. None when another repository
    /// names it: those tags of `repository` go, and the image stays for the other names.
    static func namesToRemove(of image: DockerImage, repository: ImageReference) -> [String] {
        // Engines before 23 list an untagged image's tags as `<none>:<none>`.
        let tags = image.repoTags.filter { $0 != "<none>:<none>" }
        if tags.isEmpty { return [image.id] }
        return tags.filter { tag in (try? ImageReference(parsing: tag))?.name == repository.name }
    }
}
