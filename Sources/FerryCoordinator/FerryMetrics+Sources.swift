import FerryCore
import FerryDiagnostics

extension FerryMetrics {
    /// Counts blob bytes received from the mesh under the kind of source that sent them
    /// (`ferry_received_bytes_total{source="leader|peer"}`).
    static func countReceived(_ bytes: Int, from kind: SourceKind) {
        countReceived(bytes, fromPeer: kind != .leader)
    }
}
