import FerryFormats
import FuzzSupport

/// `BasicAuthorization(header:)` on arbitrary `Authorization` values: no crash, and what parses
/// writes back (`header`) to a value that parses to the same user and password.
@main
enum BasicAuthFuzz {
    static func main() { Fuzzer.run { fuzz($0, $1) } }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    var input = FuzzInput(start, count)
    let text = input.restAsString()
    guard let parsed = BasicAuthorization(header: text) else { return 0 }
    invariant(!parsed.user.contains(":"), "\(quoted(text)) gave a user name with a colon")
    let written = parsed.header
    if written.utf8.count < BasicAuthorization.maxLength {
        invariant(BasicAuthorization(header: written) == parsed, "\(quoted(text)) does not survive writing back as \(quoted(written))")
    }
    return 0
}
