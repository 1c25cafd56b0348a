import FerryCore
import Foundation
import FuzzSupport

/// `ParsedManifest.decode(_:contentType:)` on arbitrary bytes, with a `Content-Type` picked by
/// the first byte among the known media types, spellings a registry may send and junk. A body
/// that decodes has a kind matching its media type, and re-encoding it and decoding that again
/// gives the same value.
@main
enum ManifestFuzz {
    static func main() { Fuzzer.run { fuzz($0, $1) } }
}

let contentTypes: [String?] = [
    nil,
    "application/json",
    "application/json; charset=utf-8",
    MediaType.dockerManifest,
    MediaType.dockerManifestList,
    MediaType.ociManifest,
    MediaType.ociIndex,
    MediaType.dockerSchema1,
    MediaType.dockerSchema1Signed,
    "APPLICATION/VND.OCI.IMAGE.MANIFEST.V1+JSON",
    MediaType.ociIndex + "; charset=utf-8",
    " \(MediaType.dockerManifest) ",
    "text/plain",
    "",
    ";",
    MediaType.ociConfig,
]

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    var input = FuzzInput(start, count)
    let contentType = contentTypes[Int(input.byte()) % contentTypes.count]
    let body = Data(input.rest())
    guard let parsed = try? ParsedManifest.decode(body, contentType: contentType) else { return 0 }
    let encoder = JSONEncoder()
    let reencoded: Data
    switch parsed {
    case .image(let manifest, let mediaType):
        invariant(MediaType.imageManifests.contains(mediaType), "an image manifest decoded as \(quoted(mediaType))")
        invariant(manifest.blobs.allSatisfy { $0.size >= 0 }, "a blob with a negative size decoded")
        do { reencoded = try encoder.encode(manifest) } catch { invariant(false, "a decoded manifest does not encode: \(error)"); return 0 }
    case .index(let index, let mediaType):
        invariant(MediaType.indexes.contains(mediaType), "an index decoded as \(quoted(mediaType))")
        invariant(index.manifests.allSatisfy { $0.size >= 0 }, "a manifest with a negative size decoded")
        do { reencoded = try encoder.encode(index) } catch { invariant(false, "a decoded index does not encode: \(error)"); return 0 }
    }
    do {
        let again = try ParsedManifest.decode(reencoded, contentType: parsed.mediaType)
        invariant(again == parsed, "re-encoding changed the manifest: \(String(decoding: reencoded, as: UTF8.self))")
    } catch {
        invariant(false, "the re-encoded manifest does not decode: \(error) \(String(decoding: reencoded, as: UTF8.self))")
    }
    return 0
}
