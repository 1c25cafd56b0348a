import ArgumentParser
import FerryCore
import FerryStore

struct DigestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "digest",
        abstract: "Print the sha256 digest of files, hashed the way Ferry's store hashes blobs."
    )

    @Argument(help: "Files to hash.")
    var files: [String]

    func run() async throws {
        try await reportingErrors {
            for file in files {
                let digest: Digest
                do {
                    digest = try await BlobStore.digest(ofFileAt: file)
                } catch {
                    throw FerryError(.notFound, "cannot read '\(file)'")
                }
                FileOutput.standardOutput.write("\(digest.encoded)  \(file)\n")
            }
        }
    }
}
