import ArgumentParser
import FerryCore
import FerryMesh
import Foundation

struct FetchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fetch",
        abstract: "Have the leader fetch images from upstream, and wait until they are held.",
        discussion: "Exits 0 only when every image is present and verified on the leader."
    )

    @OptionGroup var connection: LeaderConnection

    @OptionGroup var request: ImageRequestOptions

    @Option(help: "Platform to fetch, os/arch[/variant]. Default: the leader's.")
    var platform: String?

    func run() async throws {
        try await reportingErrors {
            try request.checkLocally(platform: platform)
            let client = try connection.client()
            let accepted = try await client.fetch(FetchRequest(images: request.images, platform: platform, pull: request.pull))
            if request.noWait {
                try emit(accepted.images)
                return
            }
            let final = try await wait(for: accepted.images.map(\.id), client: client)
            if request.json { try emit(final) }
            let failed = final.filter { $0.state != .present }
            if !failed.isEmpty {
                if !request.json {
                    for image in failed {
                        printError("\(image.reference): \(image.error?.message ?? "not fetched")")
                    }
                }
                throw ExitCode(1)
            }
        }
    }

    private func emit(_ statuses: [ImageStatus]) throws {
        if request.json {
            try FileOutput.standardOutput.writeJSON(FetchResponse(images: statuses))
        } else {
            for status in statuses { FileOutput.standardOutput.write("\(status.reference) \(status.state)\n") }
        }
    }

    private func wait(for ids: [Int64], client: AdminClient) async throws -> [ImageStatus] {
        let output = FileOutput.standardOutput
        var renderer = FetchProgressRenderer(mode: .of(output, json: request.json))
        var warnings = WarningPrinter()
        while true {
            var statuses: [ImageStatus] = []
            for id in ids { statuses.append(try await client.image(id: id)) }
            if !request.json { warnings.print(statuses.compactMap(\.warning)) }
            output.write(renderer.render(statuses))
            if statuses.allSatisfy(\.isFinished) {
                output.write(renderer.finish(statuses))
                return statuses
            }
            try await Task.sleep(for: .milliseconds(100))
        }
    }
}
