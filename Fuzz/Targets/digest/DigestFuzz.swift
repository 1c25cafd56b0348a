import FerryCore
import FuzzSupport

/// `Digest(parsing:)` on arbitrary text: a digest that parses is canonical already, so its
/// description is the input itself, and it agrees with `LosslessStringConvertible`.
@main
enum DigestFuzz {
    static func main() { Fuzzer.run { fuzz($0, $1) } }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    var input = FuzzInput(start, count)
    let text = input.restAsString()
    let lossless = Digest(text)
    guard let digest = try? Digest(parsing: text) else {
        invariant(lossless == nil, "init?(_:) accepts \(quoted(text)), init(parsing:) does not")
        return 0
    }
    invariant(lossless == digest, "init?(_:) and init(parsing:) disagree on \(quoted(text))")
    invariant(digest.description == text, "\(quoted(text)) parsed to \(quoted(digest.description))")
    invariant(
        digest.encoded.utf8.count == (digest.algorithm == .sha256 ? 64 : 128),
        "\(quoted(text)) parsed with \(digest.encoded.utf8.count) hex digits"
    )
    invariant(digest.shortID.utf8.count == 12, "\(quoted(text)) has the short ID \(quoted(digest.shortID))")
    return 0
}
