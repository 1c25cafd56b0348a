/// What kind of node a blob comes from: the leader, or a peer (another follower).
public enum SourceKind: String, Sendable, Hashable, Codable {
    case leader
    case peer
}
