import FerryCore
import FerryMesh

extension FollowerConfiguration {
    /// Checks what a follower cannot start with: the node name, the leader URL (HTTPS unless
    /// `--insecure-mesh`), the advertised URL. Each error says which setting to change.
    func validate() throws(FerryError) {
        guard JoinRequest.isValidName(name) else {
            throw FerryError(
                .configuration, "invalid node name '\(name.prefix(80))': use lowercase letters, digits, '.', '_' and '-' (give one with --name)")
        }
        let leader = try NodeAddress(leaderURL: leaderURL)
        guard leader.scheme == .https || insecureMesh else {
            throw FerryError(
                .configuration, "the leader URL '\(leaderURL)' is plain HTTP: use https://, or pass --insecure-mesh (local development only)")
        }
        if let advertiseURL {
            do {
                _ = try NodeAddress(parsing: advertiseURL, allowPlainHTTP: leader.scheme == .http)
            } catch {
                throw FerryError(.configuration, "invalid --advertise URL: \(error.message)")
            }
        }
    }
}
