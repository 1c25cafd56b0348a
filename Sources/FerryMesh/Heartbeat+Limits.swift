import FerryCore

extension Heartbeat {
    /// The longest Docker version the leader keeps from a heartbeat (`27.3.1`, `20.10.24+dfsg1`).
    public static let maxDockerVersionLength = 64
    /// The longest Docker error the leader keeps from a heartbeat.
    public static let maxDockerErrorLength = 512

    /// The engine fields as the leader keeps them: bounded in length, control characters
    /// escaped (``TerminalText``), so that what a node says cannot fill the database or forge
    /// lines in `ferry nodes`. The address is left to the address checks.
    public func bounded() -> Heartbeat {
        var copy = self
        copy.dockerVersion = dockerVersion.map { TerminalText.escape($0, limit: Self.maxDockerVersionLength) }
        copy.dockerError = dockerError.map { TerminalText.escape($0, limit: Self.maxDockerErrorLength) }
        copy.certificateSerial = certificateSerial.map { String($0.prefix(64)) }
        return copy
    }
}
