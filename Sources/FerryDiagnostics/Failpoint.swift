import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Points in the code where a test can make the process die at once, to prove that a crash at
/// exactly that step loses nothing (as etcd's gofail or TiKV's fail-rs do). The fault suite's
/// random kills cover the phases of an install only statistically; these cover the steps between
/// two durable writes that matter most.
///
/// Armed only by the `FERRY_FAILPOINTS` environment variable, read once: a comma-separated list of
/// names, each optionally `name@N` to fire the Nth time the point is reached (default: the first).
/// A fired failpoint writes one line to standard error and sends the process SIGKILL. Unarmed, a
/// failpoint costs a lookup in an empty dictionary.
public enum Failpoint: String, CaseIterable, Sendable {
    /// Leader: a blob from upstream is committed to the store, its state in SQLite not yet `present`.
    case leaderBlobCommitted = "leader-blob-committed"
    /// Follower: a blob is committed to its store, the leader not yet told it is `present`.
    case followerBlobCommitted = "follower-blob-committed"
    /// Follower: a chunk of a blob went to the Docker engine: in the docker-archive streaming into
    /// `POST /images/load` (`--handoff load`), or served by the loopback registry the engine pulls
    /// from (`--handoff pull`).
    case followerLoadStreaming = "follower-load-streaming"
    /// Follower: the engine loaded and confirmed the image, the leader not yet told it is done.
    case followerLoaded = "follower-loaded"
    /// Follower: the leader answered its join, its new identity not yet written.
    case followerJoinAnswered = "follower-join-answered"
    /// Follower, rollout switch: the old container is stopped, the new one not yet started.
    case followerSwitchOldStopped = "follower-switch-old-stopped"

    /// The steps of an install (what the fault suite crashes at); the rest belong to rollouts.
    public static let installSteps: [Failpoint] = [.leaderBlobCommitted, .followerBlobCommitted, .followerLoadStreaming, .followerLoaded]

    /// The environment variable that arms failpoints.
    public static let environmentVariable = "FERRY_FAILPOINTS"

    /// Armed points and the hit on which each fires, from ``environmentVariable``.
    static let armed: [Failpoint: Int] = parse(ProcessInfo.processInfo.environment[environmentVariable] ?? "")
    private static let hits = Mutex<[Failpoint: Int]>([:])

    /// Parses `name[@N],...`; unknown names and bad counts are ignored.
    static func parse(_ text: String) -> [Failpoint: Int] {
        var armed: [Failpoint: Int] = [:]
        for item in text.split(separator: ",") {
            let parts = item.trimmingCharacters(in: .whitespaces).split(separator: "@", maxSplits: 1)
            guard let name = parts.first, let point = Failpoint(rawValue: String(name)) else { continue }
            let hit = parts.count == 2 ? Int(parts[1]) : 1
            guard let hit, hit >= 1 else { continue }
            armed[point] = hit
        }
        return armed
    }

    /// Whether this process was started with the point armed: lets a hot path (a chunk loop) add
    /// ``reach()`` only then.
    public var isArmed: Bool { Self.armed[self] != nil }

    /// Marks that the code reached this point; dies here if the point is armed for this hit.
    public func reach() {
        guard let fireAt = Self.armed[self] else { return }
        let count = Self.hits.withLock { hits in
            hits[self, default: 0] += 1
            return hits[self]!
        }
        guard count == fireAt else { return }
        FileHandle.standardError.write(Data("failpoint \(rawValue) reached (hit \(count)): killing the process\n".utf8))
        kill(getpid(), SIGKILL)
    }
}
