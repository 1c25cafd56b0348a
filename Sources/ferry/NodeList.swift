import FerryCore

/// `--nodes`: node names separated by commas, or `all`.
enum NodeList {
    /// The names `text` gives; nil for every node. An empty name is refused, so that
    /// `--nodes "$NODES"` with an unset variable never means every node.
    static func parse(_ text: String) throws(FerryError) -> [String]? {
        let names = text.split(separator: ",", omittingEmptySubsequences: false).map { String($0).trimmingWhitespace() }
        if names == ["all"] { return nil }
        guard !names.contains(where: \.isEmpty) else {
            throw FerryError(.invalidArgument, "--nodes needs node names separated by commas, or all (got '\(text)')")
        }
        guard !names.contains("all") else {
            throw FerryError(.invalidArgument, "--nodes takes either all or node names, not both (got '\(text)')")
        }
        // A name given twice is most likely another one mistyped.
        var seen = Set<String>()
        if let twice = names.first(where: { !seen.insert($0).inserted }) {
            throw FerryError(.invalidArgument, "--nodes names '\(twice)' twice (got '\(text)')")
        }
        return names
    }
}
