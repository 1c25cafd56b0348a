import ArgumentParser
import FerryCore
import FerryMesh
import Foundation

struct ImagesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "images",
        abstract: "List the images the leader holds or is fetching."
    )

    @OptionGroup var connection: LeaderConnection

    @Flag(help: "Print JSON.")
    var json = false

    func run() async throws {
        try await reportingErrors {
            let list = try await connection.client().images()
            if json { return try FileOutput.standardOutput.writeJSON(list) }
            var rows = [["REFERENCE", "DIGEST", "PLATFORM", "SIZE", "STATE"]]
            for image in list.images {
                rows.append([
                    image.reference,
                    image.digest.map { String($0.prefix(19)) } ?? "-",
                    image.resolvedPlatform ?? image.platform,
                    ByteSize.format(image.size),
                    image.state.rawValue,
                ])
            }
            printTable(rows)
        }
    }
}
