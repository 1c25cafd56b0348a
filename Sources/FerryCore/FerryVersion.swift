/// The version of this build of Ferry.
public enum FerryVersion {
    public static let current = "0.2.0"

    /// The version of the mesh protocol (join, heartbeat, work, reports, sources) this build
    /// speaks, sent with every join and heartbeat. Ferry 0.1.0 spoke version 1 and sent none.
    /// Raise it when a change to the mesh wire types needs both sides to know it.
    public static let meshProtocol = 2

    /// The version a node that sends none speaks: Ferry 0.1.0's.
    public static let unversionedMeshProtocol = 1
}
