import FerryFormats
import FuzzSupport

/// `ProxyPath.parse` on arbitrary request paths: a route that parses is rebuilt from its parts
/// into exactly the path it came from, and its names never hold `..`, `%` or an empty part.
@main
enum ProxyPathFuzz {
    static func main() { Fuzzer.run { fuzz($0, $1) } }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    var input = FuzzInput(start, count)
    let path = input.restAsString()
    guard case .success(let route) = ProxyPath.parse(path) else { return 0 }
    let rebuilt: String
    switch route {
    case .base:
        invariant(path.utf8.elementsEqual("/v2".utf8) || path.utf8.elementsEqual("/v2/".utf8), "\(quoted(path)) parsed as the base route")
        return 0
    case .catalog:
        rebuilt = "/v2/_catalog"
    case .manifest(let repository, let reference):
        rebuilt = "/v2/\(repository)/manifests/\(reference)"
    case .blob(let repository, let digest):
        rebuilt = "/v2/\(repository)/blobs/\(digest)"
    case .tags(let repository):
        rebuilt = "/v2/\(repository)/tags/list"
    }
    invariant(rebuilt.utf8.elementsEqual(path.utf8), "\(quoted(path)) rebuilt as \(quoted(rebuilt))")
    if let repository = route.repository {
        let name = repository.description
        invariant(!name.contains("..") && !name.contains("%") && !name.contains("//"), "\(quoted(path)) gave the name \(quoted(name))")
    }
    return 0
}
