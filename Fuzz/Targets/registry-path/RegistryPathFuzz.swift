import FerryFormats
import FuzzSupport

/// `RegistryPath.parse` on arbitrary request paths: a route that parses is rebuilt from its
/// parts into exactly the path it came from, so no byte is lost or invented.
@main
enum RegistryPathFuzz {
    static func main() { Fuzzer.run { fuzz($0, $1) } }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    var input = FuzzInput(start, count)
    let path = input.restAsString()
    guard let route = RegistryPath.parse(path) else { return 0 }
    switch route {
    case .base:
        invariant(path.utf8.elementsEqual("/v2".utf8) || path.utf8.elementsEqual("/v2/".utf8), "\(quoted(path)) parsed as the base route")
    case .manifest(let name, let reference):
        let rebuilt = "/v2/\(name)/manifests/\(reference)"
        invariant(rebuilt.utf8.elementsEqual(path.utf8), "\(quoted(path)) parsed as manifest \(quoted(name)) \(quoted(reference)) → \(quoted(rebuilt))")
    case .blob(let name, let digest):
        let rebuilt = "/v2/\(name)/blobs/\(digest)"
        invariant(rebuilt.utf8.elementsEqual(path.utf8), "\(quoted(path)) parsed as blob \(quoted(name)) \(quoted(digest)) → \(quoted(rebuilt))")
    case .tags(let name):
        let rebuilt = "/v2/\(name)/tags/list"
        invariant(rebuilt.utf8.elementsEqual(path.utf8), "\(quoted(path)) parsed as tags of \(quoted(name)) → \(quoted(rebuilt))")
    }
    return 0
}
