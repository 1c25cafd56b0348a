import FerryCore
import FuzzSupport

/// `ByteRange.resolve(_:size:)` on arbitrary `Range` values against a size picked by the first
/// bytes (small, or any non-negative Int64). A partial range is non-empty and lies within
/// `0..<size`, and the `Content-Range` the server would send for it reads back the same.
@main
enum ByteRangeFuzz {
    static func main() { Fuzzer.run { fuzz($0, $1) } }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    var input = FuzzInput(start, count)
    let selector = input.byte()
    let size: Int64
    switch selector % 4 {
    case 0: size = Int64(input.byte())  // 0...255: the boundaries are near
    case 1: size = Int64(bitPattern: input.uint64() >> 1)  // any non-negative size
    case 2: size = Int64.max - Int64(input.byte())
    default: size = Int64(input.byte()) << 20
    }
    let header: String? = selector == 0xff ? nil : input.restAsString()
    let outcome = ByteRange.resolve(header, size: size)
    switch outcome {
    case .full:
        break
    case .unsatisfiable:
        invariant(header != nil, "no header resolved as unsatisfiable")
    case .partial(let range):
        invariant(header != nil, "no header resolved as \(range)")
        let text = quoted(header ?? "")
        invariant(range.lowerBound >= 0 && range.upperBound <= size, "\(text) against \(size) resolved to \(range)")
        invariant(!range.isEmpty, "\(text) against \(size) resolved to the empty \(range)")
        let contentRange = "bytes \(range.lowerBound)-\(range.upperBound - 1)/\(size)"
        let parsed = ContentRange(header: contentRange)
        invariant(
            parsed?.start == range.lowerBound && parsed?.end == range.upperBound - 1 && parsed?.total == size,
            "\(text) against \(size): the response header \(contentRange) reads back as \(String(describing: parsed))"
        )
    }
    return 0
}
