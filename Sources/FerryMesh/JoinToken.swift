import FerryCore

/// The join token an operator hands to followers: `fjt1.<secret>.<ca fingerprint>`.
///
/// The secret authorises the join; the fingerprint (sha256 of the cluster CA certificate's DER)
/// lets the follower check, before it sends the secret anywhere, that it reached the real
/// leader — as `kubeadm join --discovery-token-ca-cert-hash` does.
public struct JoinToken: Sendable, Hashable, CustomStringConvertible {
    public var secret: String
    /// Lowercase hex sha256 of the cluster CA certificate (DER).
    public var caFingerprint: String

    public init(secret: String, caFingerprint: String) {
        self.secret = secret
        self.caFingerprint = caFingerprint
    }

    public init(parsing text: String) throws(FerryError) {
        let parts = text.trimmingWhitespace().split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0] == "fjt1", parts[1].count >= 32, parts[2].count == 64,
            parts[1].allSatisfy(\.isHexDigit), parts[2].allSatisfy({ $0.isHexDigit && !$0.isUppercase })
        else {
            throw FerryError(.configuration, "invalid join token: expected the contents of the leader's DATA_DIR/join-token (fjt1.<secret>.<fingerprint>)")
        }
        self.init(secret: String(parts[1]), caFingerprint: String(parts[2]))
    }

    public var description: String { "fjt1.\(secret).\(caFingerprint)" }
}
