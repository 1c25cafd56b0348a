import FerryCore
import FuzzSupport

/// `Platform(parsing:)` on arbitrary text (what `--platform` and a follower's join request
/// carry). A parsed platform is normalised, its description parses back to it, and a matcher
/// built for it (as index selection does) ranks it first.
@main
enum PlatformFuzz {
    static func main() { Fuzzer.run { fuzz($0, $1) } }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    var input = FuzzInput(start, count)
    let text = input.restAsString()
    guard let platform = try? Platform(parsing: text) else { return 0 }
    invariant(platform.normalized() == platform, "\(quoted(text)) parsed to \(platform), which normalises to \(platform.normalized())")
    do {
        let reparsed = try Platform(parsing: platform.description)
        invariant(reparsed == platform, "\(quoted(text)) → \(quoted(platform.description)) → \(quoted(reparsed.description))")
    } catch {
        invariant(false, "\(quoted(text)) parsed, but its description \(quoted(platform.description)) does not: \(error)")
    }
    let matcher = PlatformMatcher(platform)
    if platform.os != "unknown" && platform.architecture != "unknown" {
        invariant(matcher.rank(platform) == 0, "the matcher for \(platform) ranks it \(String(describing: matcher.rank(platform)))")
    }
    return 0
}
