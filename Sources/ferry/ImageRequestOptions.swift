import ArgumentParser
import FerryCore

/// What `ferry fetch` and `ferry install` share: the images asked for, and how to wait for and
/// print the answer.
struct ImageRequestOptions: ParsableArguments {
    @Argument(help: "Image references, e.g. registry.example.com/team/app:1.2 or alpine@sha256:…")
    var images: [String]

    @Flag(help: "Print the result as JSON.")
    var json = false

    @Flag(name: .customLong("no-wait"), help: "Return once the leader has accepted the request.")
    var noWait = false

    /// Parses the references and `platform` here, for a clear error without a round trip.
    func checkLocally(platform: String?) throws {
        for image in images { _ = try ImageReference(parsing: image) }
        if let platform { _ = try Platform(parsing: platform) }
    }
}
