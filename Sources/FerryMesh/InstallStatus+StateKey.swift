import FerryCore
import Foundation

/// What a follow of an install waits on (``AdminAPI/install``'s `known`): the install's and its
/// targets' states, which the leader's change signal follows (not the byte counts, notes or
/// attempts, which a follow sees at the end of its short wait, nor the dates, which the wire rounds).
extension InstallStatus {
    /// A digest of the install's state and each target's id and state: 16 hex digits (FNV-1a,
    /// 64 bits), the same for the same states in any process.
    public var stateKey: String {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ text: String) {
            for byte in text.utf8 + [0] {
                hash ^= UInt64(byte)
                hash &*= 0x0000_0100_0000_01b3
            }
        }
        mix(state.rawValue)
        for target in targets {
            mix("\(target.id)")
            mix(target.state.rawValue)
        }
        let hex = String(hash, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
