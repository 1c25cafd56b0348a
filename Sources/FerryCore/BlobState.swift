/// Where a blob stands on this node.
public enum BlobState: String, Sendable, Hashable, CaseIterable, WireState {
    case missing
    case fetching
    case present
    case failed
}
