import FerryCore
import Foundation
import NIOCore
import Subprocess
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// Decompresses zstd blobs by streaming them through the `zstd -dc` program (Debian package
/// `zstd`), for engines older than Docker 23.0, which cannot read zstd layers.
///
/// The program runs under swift-subprocess: the blob goes to its stdin and its stdout comes
/// back through non-blocking pipes, both with back-pressure, so memory stays flat whatever the
/// layer size, and nothing is written to disk.
public struct ZstdDecompressor: Sendable, Hashable {
    /// The path of the `zstd` program.
    public var executable: String

    public init(executable: String) {
        self.executable = executable
    }

    /// The `zstd` found on `PATH` (or in `/usr/bin`), if any.
    public static func find(environment: [String: String] = ProcessInfo.processInfo.environment) -> ZstdDecompressor? {
        let directories = (environment["PATH"] ?? "").split(separator: ":").map(String.init) + ["/usr/bin", "/usr/local/bin"]
        for directory in directories where !directory.isEmpty {
            let path = "\(directory)/zstd"
            if FileManager.default.isExecutableFile(atPath: path) { return ZstdDecompressor(executable: path) }
        }
        return nil
    }

    /// The size and sha256 of `digest`'s blob once decompressed (a pass that keeps nothing).
    public func measure(_ digest: Digest, reader: @escaping DockerArchive.BlobReader) async throws -> DockerArchive.DecompressedLayer {
        var hasher = Digester(.sha256)
        try await decompress(digest, reader: reader) { chunk in
            chunk.withUnsafeReadableBytes { hasher.update($0) }
        }
        return DockerArchive.DecompressedLayer(size: hasher.count, diffID: hasher.finalize())
    }

    /// Streams `digest`'s blob, read through `reader`, into `zstd -dc` and its output to `sink`.
    ///
    /// Throws ``FerryError/Code/dockerLoadFailed`` with zstd's own message when the blob is not
    /// valid zstd, ``FerryError/Code/unsupported`` when the program cannot be started, and
    /// whatever `reader` or `sink` throw. The program is killed if either of them fails or the
    /// task is cancelled.
    public func decompress(_ digest: Digest, reader: @escaping DockerArchive.BlobReader, to sink: (ByteBuffer) async throws -> Void) async throws {
        _ = sigpipeIgnored
        let result: ExecutionResult<Outcome, SequenceOutput, SequenceOutput>
        do {
            result = try await Subprocess.run(
                .path(FilePath(executable)), arguments: ["-d", "-c", "-q"],
                input: .inputWriter, output: .sequence, error: .sequence
            ) { execution in
                await Self.exchange(execution, digest: digest, reader: reader, sink: sink)
            }
        } catch let error as SubprocessError where error.code == .spawnFailed || error.code == .executableNotFound {
            throw FerryError(.unsupported, "cannot run \(executable): \(error); install zstd (Debian package 'zstd') or fix its path")
        }
        let outcome = result.closureResult
        // zstd's own verdict (a non-zero exit it chose) explains a broken pipe better than the
        // pipe's error does; a kill of ours leaves the failure that caused it.
        let killed = result.terminationStatus == .signaled(SIGKILL) && outcome.failure != nil
        if !result.terminationStatus.isSuccess && !killed {
            try Task.checkCancellation()
            let detail =
                switch result.terminationStatus {
                case _ where !outcome.stderr.isEmpty: outcome.stderr
                case .exited(let code): "exit status \(code)"
                case .signaled(let signal): "killed by signal \(signal)"
                }
            throw FerryError(.dockerLoadFailed, "layer \(digest) could not be decompressed with zstd: \(detail)")
        }
        if let failure = outcome.failure { throw failure }
    }

    /// What happened inside the run: the first failure of the reader, the sink or the pipes,
    /// and the start of zstd's stderr.
    private struct Outcome: Sendable {
        var failure: (any Error)?
        var stderr: String
    }

    /// A write to zstd's stdin failed: it has exited or closed its input.
    private struct InputClosed: Error {}

    /// Feeds the blob to zstd's stdin, its stdout to `sink` and collects its stderr, all at
    /// once. Kills zstd when the reader or the sink fails, so that neither side waits on it.
    nonisolated(nonsending) private static func exchange(
        _ execution: Execution<CustomWriteInput, SequenceOutput, SequenceOutput>,
        digest: Digest, reader: @escaping DockerArchive.BlobReader, sink: (ByteBuffer) async throws -> Void
    ) async -> Outcome {
        enum Piece: Sendable {
            case written((any Error)?)
            case stderr(String)
        }
        return await withTaskGroup(of: Piece.self) { group in
            let stdin = execution.standardInputWriter
            group.addTask {
                do {
                    try await reader(digest) { chunk in
                        do {
                            _ = try await stdin.write(Array(chunk.readableBytesView))
                        } catch {
                            throw InputClosed()
                        }
                    }
                    try await stdin.finish()
                } catch is InputClosed {
                    // zstd stopped reading: its exit status tells why.
                } catch {
                    try? execution.send(signal: .kill)
                    return .written(error)
                }
                return .written(nil)
            }
            group.addTask {
                var bytes: [UInt8] = []
                // Read to the end, so zstd never blocks on a full stderr; keep the first 4 KiB.
                do {
                    for try await buffer in execution.standardError where bytes.count < 4096 {
                        buffer.withUnsafeBytes { bytes += $0.prefix(4096 - bytes.count) }
                    }
                } catch {
                    // What was read says enough; zstd's exit status still decides.
                }
                let text = String(decoding: bytes, as: UTF8.self).trimmingWhitespace()
                return .stderr(text.replacingOccurrences(of: "\n", with: "; "))
            }
            var outcome = Outcome(stderr: "")
            do {
                for try await buffer in execution.standardOutput {
                    try await sink(buffer.withUnsafeBytes { ByteBuffer(bytes: $0) })
                }
            } catch {
                try? execution.send(signal: .kill)
                outcome.failure = error
            }
            for await piece in group {
                switch piece {
                case .written(let error): outcome.failure = outcome.failure ?? error
                case .stderr(let text): outcome.stderr = text
                }
            }
            return outcome
        }
    }
}

/// Writing to a zstd that has exited must fail with `EPIPE`, not end this process with
/// `SIGPIPE`. (NIO makes the same process-wide setting when it opens its first socket.)
private let sigpipeIgnored: Void = {
    _ = signal(SIGPIPE, SIG_IGN)
}()
