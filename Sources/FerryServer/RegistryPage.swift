import FerryCore
import HTTPTypes
import Hummingbird

/// One page of a sorted list of names (tags, the catalog) as distribution paginates them: `?n=`
/// names at most, after `?last=`, with a `Link` header to the next page when there is one.
public struct RegistryPage: Sendable, Hashable {
    public var names: [String]
    /// The `Link` header's value, when a next page exists.
    public var link: String?

    /// `sorted` paged as `request`'s query asks; `path` is the route the `Link` names (with `ns`
    /// carried over). An `n` that is not a non-negative integer is `400 PAGINATION_NUMBER_INVALID`.
    public init(_ sorted: [String], of request: Request, path: String) throws(FerryError) {
        let parameters = request.uri.queryParameters
        var names = sorted
        if let last = parameters.get("last") { names = names.filter { $0 > last } }
        link = nil
        if let text = parameters.get("n") {
            guard let n = Int(text), n >= 0 else {
                throw FerryError(.paginationNumberInvalid, "invalid n '\(text.prefix(20))': expected a non-negative integer")
            }
            if names.count > n {
                names = Array(names.prefix(n))
                if let lastName = names.last {
                    var next = "\(path)?n=\(n)&last=\(lastName)"
                    if let ns = parameters.get("ns") { next += "&ns=\(ns)" }
                    link = "<\(next)>; rel=\"next\""
                }
            }
        }
        self.names = names
    }
}

extension FerryError.Code {
    /// An invalid `n` in a paginated list (distribution's code): 400.
    public static let paginationNumberInvalid = FerryError.Code("PAGINATION_NUMBER_INVALID")
}
