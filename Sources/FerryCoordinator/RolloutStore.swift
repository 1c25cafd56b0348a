import FerryCore
import FerryDiagnostics
import FerryPolicy
import FerryState
import Foundation

/// Where the leader keeps its rollouts: one row each (`rollouts`), the ``RolloutRecord`` as JSON
/// beside its image and phase; rollout IDs; the rollouts-by-phase gauge.
struct RolloutStore: Sendable {
    let database: FerryDatabase

    /// The stored record of `id`, or nil when there is none (or `id` is not a rollout ID).
    func load(_ id: String) async throws -> RolloutRecord? {
        guard Self.isValidID(id), let stored = try await database.rollout(id: id) else { return nil }
        return try Self.decode(stored.stateJSON)
    }

    func save(_ record: RolloutRecord) async throws {
        let json = String(decoding: try JSONEncoder().encode(record), as: UTF8.self)
        try await database.saveRollout(id: record.id, image: record.state.image, phase: record.state.phase.rawValue, stateJSON: json)
    }

    /// Sets the rollouts-by-phase gauge from the stored rollouts.
    func updateMetrics() async throws {
        var counts = Dictionary(uniqueKeysWithValues: RolloutState.Phase.allCases.map { ($0.rawValue, 0) })
        for rollout in try await database.rollouts() { counts[rollout.phase, default: 0] += 1 }
        for (phase, count) in counts { FerryMetrics.setRollouts(phase: phase, count: count) }
    }

    static func decode(_ json: String) throws -> RolloutRecord { try JSONDecoder().decode(RolloutRecord.self, from: Data(json.utf8)) }

    /// `r` and 12 lowercase hex digits.
    static func newID() -> String {
        "r" + (0..<6).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }

    static func isValidID(_ id: String) -> Bool {
        id.count == 13 && id.first == "r" && id.dropFirst().allSatisfy { $0.isHexDigit && !$0.isUppercase }
    }

    static func unknown(_ id: String) -> FerryError {
        FerryError(.notFound, "no rollout with ID '\(TerminalText.escape(id, limit: 64))'; `ferry rollout status` lists them")
    }
}
