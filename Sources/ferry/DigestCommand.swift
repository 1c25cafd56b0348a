import ArgumentParser
import FerryCore
import FerryStore
import Foundation

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
                    var isDirectory: ObjCBool = false
                    let reason =
                        !FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory) ? "no such file"
                        : isDirectory.boolValue ? "it is a directory; name the files in it"
                        : !FileManager.default.isReadableFile(atPath: file) ? "permission denied" : "\(error)"
                    throw FerryError(.notFound, "cannot read '\(file)': \(reason)")
                }
                FileOutput.standardOutput.write("\(digest.encoded)  \(file)\n")
            }
        }
    }
}
