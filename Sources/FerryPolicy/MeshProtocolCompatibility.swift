import FerryCore

/// Which mesh protocol versions a leader accepts from its nodes: its own and the one before,
/// so that followers keep working while they are upgraded one by one after the leader. Pure:
/// the leader's join and heartbeat routes ask it.
public struct MeshProtocolCompatibility: Sendable, Hashable {
    /// The version the leader speaks.
    public var leader: Int
    /// The leader's release, for messages.
    public var leaderRelease: String

    public init(leader: Int = FerryVersion.meshProtocol, leaderRelease: String = FerryVersion.current) {
        self.leader = leader
        self.leaderRelease = leaderRelease
    }

    /// The oldest version accepted: one behind the leader's.
    public var oldestAccepted: Int { leader - 1 }

    /// Nil when a node speaking `version` (nil: it sent none, ``FerryVersion/unversionedMeshProtocol``)
    /// may join and heartbeat; otherwise the refusal, naming both versions and what to do.
    public func refusal(nodeVersion version: Int?) -> FerryError? {
        let node = version ?? FerryVersion.unversionedMeshProtocol
        if node >= oldestAccepted && node <= leader { return nil }
        let accepted = "the leader (ferry \(leaderRelease)) speaks mesh protocol \(leader) and accepts \(oldestAccepted) to \(leader)"
        if node < oldestAccepted {
            return FerryError(
                .protocolVersion,
                "this node speaks mesh protocol \(node), but \(accepted): upgrade ferry on this node to \(leaderRelease) and start it again")
        }
        return FerryError(
            .protocolVersion,
            "this node speaks mesh protocol \(node), but \(accepted): upgrade the leader first, then the followers one by one (docs/operations.md, Upgrades)")
    }
}
