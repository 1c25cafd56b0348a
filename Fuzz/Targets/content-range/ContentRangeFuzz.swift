import FerryCore
import FuzzSupport

/// `ContentRange(header:)` on arbitrary `Content-Range` values (what an upstream or a peer
/// answers to a ranged request). What parses is a sensible range (0 ≤ start ≤ end < total),
/// and its canonical form parses to the same value.
@main
enum ContentRangeFuzz {
    static func main() { Fuzzer.run { fuzz($0, $1) } }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    var input = FuzzInput(start, count)
    let header = input.restAsString()
    guard let range = ContentRange(header: header) else { return 0 }
    invariant(range.start >= 0 && range.end >= range.start, "\(quoted(header)) parsed to \(range)")
    invariant(range.total.map { $0 > range.end } ?? true, "\(quoted(header)) parsed to \(range)")
    let canonical = "bytes \(range.start)-\(range.end)/\(range.total.map(String.init) ?? "*")"
    invariant(ContentRange(header: canonical) == range, "\(quoted(header)) → \(quoted(canonical)) reads differently")
    return 0
}
