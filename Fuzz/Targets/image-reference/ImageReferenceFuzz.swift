import FerryCore
import FuzzSupport

/// `ImageReference(parsing:)` on arbitrary text. A reference that parses must be plain ASCII,
/// made of parts the grammar accepts, and its canonical form must parse back to the same value.
@main
enum ImageReferenceFuzz {
    static func main() { Fuzzer.run { fuzz($0, $1) } }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    var input = FuzzInput(start, count)
    let text = input.restAsString()
    guard let reference = try? ImageReference(parsing: text) else { return 0 }
    let canonical = reference.description
    invariant(
        canonical.utf8.allSatisfy { (0x21...0x7e).contains($0) },
        "\(quoted(text)) parsed to \(quoted(canonical)), which is not printable ASCII"
    )
    invariant(!reference.registry.isEmpty, "\(quoted(text)) parsed with an empty registry")
    invariant(
        ImageReference.isValidRepository(reference.repository),
        "\(quoted(text)) parsed to the invalid repository \(quoted(reference.repository))"
    )
    invariant(
        reference.tag.map(ImageReference.isValidTag) ?? true,
        "\(quoted(text)) parsed to the invalid tag \(quoted(reference.tag ?? ""))"
    )
    invariant(reference.tag != nil || reference.digest != nil, "\(quoted(text)) parsed with neither tag nor digest")
    do {
        let reparsed = try ImageReference(parsing: canonical)
        invariant(reparsed == reference, "\(quoted(text)) → \(quoted(canonical)) → \(quoted(reparsed.description))")
    } catch {
        invariant(false, "\(quoted(text)) parsed, but its canonical form \(quoted(canonical)) does not: \(error)")
    }
    return 0
}
