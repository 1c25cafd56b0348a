import ArgumentParser
import FerryCore
import FerryMesh
import Foundation

struct ImagesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "images",
        abstract: "List the images the leader holds or is fetching."
    )

    @OptionGroup var output: AdminOutputOptions

    func run() async throws {
        try await reportingErrors {
            try output.print(try await output.connection.client().images(), header: ["REFERENCE", "DIGEST", "PLATFORM", "SIZE", "STATE", "DETAIL"]) { list in
                list.images.map { image in
                    [
                        image.reference, image.digest.map { String($0.prefix(19)) } ?? "-", image.resolvedPlatform ?? image.platform,
                        ByteSize.format(image.size), image.state.rawValue,
                        // Why it failed (a restore without the store: its blobs are missing), or what to know.
                        image.error.map { "\($0.code): \($0.message)" } ?? image.warning ?? "",
                    ]
                }
            }
        }
    }
}
