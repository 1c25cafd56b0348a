import FerryCore
import NIOCore

/// A `docker load` archive, described up front and streamed on demand: nothing is written to
/// disk and no blob is held in memory.
///
/// It holds `manifest.json` (`[{"Config":"blobs/sha256/<hex>","RepoTags":[…],"Layers":[…]}]`),
/// the config and the layers under `blobs/<algorithm>/<hex>`, and optionally an OCI image layout
/// (`oci-layout`, `index.json` pointing at the manifest stored as a blob), as Docker 25+ writes
/// with `docker save`. Layers the engine already holds can be left out: `manifest.json` still
/// lists their paths, which dockerd 20.10 does not open when the layer's ChainID exists.
/// Zstd layers can be decompressed on the way for engines older than 23.0; they are stored under
/// their diff ID, which is what the decompressed bytes hash to.
public struct DockerArchive: Sendable {
    /// Streams a blob's bytes from the caller's store to the closure, in order.
    public typealias BlobReader = @Sendable (Digest, (ByteBuffer) async throws -> Void) async throws -> Void

    /// One tar entry.
    public struct Entry: Sendable, Hashable {
        /// Where an entry's bytes come from.
        public enum Content: Sendable, Hashable {
            /// A directory: a header, no content.
            case directory
            /// Small metadata held in memory (manifest.json, the config).
            case bytes([UInt8])
            /// A blob, read through the archive's reader.
            case blob(Digest)
            /// A zstd blob, decompressed on the way.
            case zstdDecompressed(Digest)
        }

        /// The path inside the tar.
        public var path: String
        /// The content size (for a decompressed layer, the decompressed size).
        public var size: Int64
        public var content: Content

        static func bytes(path: String, _ bytes: [UInt8]) -> Entry {
            Entry(path: path, size: Int64(bytes.count), content: .bytes(bytes))
        }
    }

    /// What to put in the archive beyond the minimum.
    public struct Options: Sendable {
        /// Also write an OCI image layout (`oci-layout`, `index.json`, the manifest blob).
        public var includeOCILayout: Bool
        /// Layer blobs to leave out because the engine already holds them.
        public var omitting: Set<Digest>
        /// Zstd layer blobs to send decompressed, with what they decompress to.
        public var decompressed: [Digest: DecompressedLayer]
        /// The `zstd` program used for ``decompressed`` layers.
        public var zstd: ZstdDecompressor?

        public init(
            includeOCILayout: Bool = false, omitting: Set<Digest> = [], decompressed: [Digest: DecompressedLayer] = [:], zstd: ZstdDecompressor? = nil
        ) {
            self.includeOCILayout = includeOCILayout
            self.omitting = omitting
            self.decompressed = decompressed
            self.zstd = zstd
        }
    }

    /// What a compressed layer decompresses to: its size and sha256 (the diff ID).
    public struct DecompressedLayer: Sendable, Hashable {
        /// The decompressed size in bytes.
        public var size: Int64
        /// The sha256 of the decompressed bytes.
        public var diffID: Digest
    }

    /// The entries, in archive order.
    public let entries: [Entry]
    /// The exact number of bytes ``write(to:)`` produces.
    public let contentLength: Int64
    /// The layer blobs that were left out.
    public let omittedLayers: [Digest]
    let reader: BlobReader
    let zstd: ZstdDecompressor?

    /// Describes the archive for `image`.
    ///
    /// Throws ``FerryError/Code/invalidArgument`` for a reference the engine cannot use as a
    /// tag (a digest reference, an invalid name), and when a layer is to be decompressed
    /// without a ``Options/zstd``.
    public init(image: LoadableImage, options: Options = .init(), reader: @escaping BlobReader) throws(FerryError) {
        let manifest = image.manifest
        var repoTags: [String] = []
        var fullName: ImageReference?
        if let reference = image.reference {
            let parsed = try Self.tagReference(reference)
            repoTags = [reference]
            fullName = parsed
        }
        if !options.decompressed.isEmpty && options.zstd == nil {
            throw FerryError(.invalidArgument, "zstd layers can only be decompressed with a zstd program")
        }

        var blobEntries: [Entry] = []
        var paths = Set<String>()
        var directories: [String] = []
        func addDirectory(_ path: String) {
            if paths.insert(path).inserted { directories.append(path) }
        }
        func addBlob(_ digest: Digest, size: Int64, content: Entry.Content) -> String {
            let directory = "blobs/\(digest.algorithm.rawValue)/"
            addDirectory("blobs/")
            addDirectory(directory)
            let path = directory + digest.encoded
            if paths.insert(path).inserted { blobEntries.append(Entry(path: path, size: size, content: content)) }
            return path
        }

        let configPath = addBlob(manifest.config.digest, size: Int64(image.config.count), content: .bytes(image.config))
        var layerPaths: [String] = []
        var omitted: [Digest] = []
        for layer in manifest.layers {
            let digest = layer.digest
            if options.omitting.contains(digest) {
                layerPaths.append("blobs/\(digest.algorithm.rawValue)/\(digest.encoded)")
                if !omitted.contains(digest) { omitted.append(digest) }
            } else if let decompressed = options.decompressed[digest] {
                // Stored under the diff ID, which is what the decompressed bytes hash to.
                layerPaths.append(addBlob(decompressed.diffID, size: decompressed.size, content: .zstdDecompressed(digest)))
            } else {
                layerPaths.append(addBlob(digest, size: layer.size, content: .blob(digest)))
            }
        }

        var metadata: [Entry] = []
        let manifestJSON = DockerSaveManifest(config: configPath, repoTags: repoTags, layers: layerPaths)
        metadata.append(.bytes(path: "manifest.json", try manifestJSON.encoded()))
        if options.includeOCILayout {
            metadata.append(.bytes(path: "oci-layout", Array(#"{"imageLayoutVersion":"1.0.0"}"#.utf8)))
            let index = OCILayoutIndex(
                manifestMediaType: manifest.mediaType ?? MediaType.ociManifest, digest: image.manifestDigest,
                size: Int64(image.manifestBytes.count), name: fullName)
            metadata.append(.bytes(path: "index.json", try index.encoded()))
            _ = addBlob(image.manifestDigest, size: Int64(image.manifestBytes.count), content: .bytes(image.manifestBytes))
        }
        let all = metadata + directories.map { Entry(path: $0, size: 0, content: .directory) } + blobEntries
        self.entries = all
        self.contentLength = all.reduce(Int64(2 * TarHeader.blockSize)) { $0 + TarHeader.entrySize(contentSize: $1.size) }
        self.omittedLayers = omitted
        self.reader = reader
        self.zstd = options.zstd
    }

    /// Checks that `reference` can be a RepoTags entry: a name with a tag, no digest.
    static func tagReference(_ reference: String) throws(FerryError) -> ImageReference {
        let parsed: ImageReference
        do {
            parsed = try ImageReference(parsing: reference)
        } catch {
            throw FerryError(.invalidArgument, "cannot tag an image as '\(reference)': \(error.message)")
        }
        guard parsed.digest == nil, !reference.contains("@") else {
            throw FerryError(.invalidArgument, "cannot tag an image as '\(reference)': docker load takes tags only, not digests")
        }
        guard reference.split(separator: "/").last?.contains(":") == true else {
            throw FerryError(.invalidArgument, "cannot tag an image as '\(reference)': the reference needs a tag (name:tag)")
        }
        return parsed
    }
}
