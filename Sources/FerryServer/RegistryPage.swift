import FerryCore
import Foundation

/// One page of a sorted list of names (tags, the catalog) as distribution paginates them: `n`
/// names at most, after `last`, with a `Link` header to the next page when there is one.
public struct RegistryPage: Sendable, Hashable {
    public var names: [String]
    /// The `Link` header's value, when a next page exists.
    public var link: String?

    /// `sorted` paged by the query's `n` and `last`; `path` is the route the `Link` names, with
    /// `carried` query parameters (a follower's `ns`, which picks the upstream) after `n` and
    /// `last`, every value percent-encoded. An `n` that is not a non-negative integer is
    /// `400 PAGINATION_NUMBER_INVALID`, distribution's code.
    public init(_ sorted: [String], n: String?, last: String?, path: String, carried: [(name: String, value: String)] = []) throws(FerryError) {
        var names = sorted
        if let last { names = names.filter { $0 > last } }
        link = nil
        if let n {
            guard let count = Int(n), count >= 0 else {
                throw FerryError(.paginationNumberInvalid, "invalid n '\(n.prefix(20))': expected a non-negative integer")
            }
            if names.count > count {
                names = Array(names.prefix(count))
                if let lastName = names.last {
                    let query = ([("n", String(count)), ("last", lastName)] + carried).map { "\($0)=\(Self.encoded($1))" }.joined(separator: "&")
                    link = "<\(path)?\(query)>; rel=\"next\""
                }
            }
        }
        self.names = names
    }

    /// A query value percent-encoded: unreserved characters, `/` and `:` as they are (names hold
    /// slashes, digests colons), everything else encoded, so that nothing can end the `<…>` of the header.
    static func encoded(_ value: String) -> String {
        value.addingPercentEncoding(withAllowedCharacters: queryValue) ?? ""
    }

    private static let queryValue = CharacterSet(charactersIn: "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~/:")
}

extension FerryError.Code {
    /// An invalid `n` in a paginated list (distribution's code): 400.
    public static let paginationNumberInvalid = FerryError.Code("PAGINATION_NUMBER_INVALID")
}
