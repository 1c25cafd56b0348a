import FerryCore

/// How a rollout proceeds (`ferry rollout` options), validated once: waves, canary, health
/// gate, failure policy. Durations are whole milliseconds so the plan stores as JSON.
public struct RolloutPlan: Sendable, Hashable, Codable {
    /// What the container switch does first.
    public enum Order: String, Sendable, Hashable, Codable, CaseIterable {
        case stopFirst = "stop-first"
        case startFirst = "start-first"
    }

    /// What happens when failures pass ``RolloutPlan/maxFailureRatio``.
    public enum FailureAction: String, Sendable, Hashable, Codable, CaseIterable {
        /// Start no more waves; wait for resume, abort or rollback.
        case pause
        /// Put every switched node back, in waves.
        case rollback
        /// Go on with the next waves.
        case `continue`
    }

    /// `--max-parallel`: nodes switched at once (default 1).
    public var maxParallel: Int
    /// `--canary`: nodes in the first wave, after which the rollout waits (default 0: none).
    public var canary: Int
    /// `--canary-wait`: how long to wait after the canary wave; nil means until `resume` (`manual`).
    public var canaryWaitMilliseconds: Int64?
    /// `--delay`: pause between waves (default 0).
    public var delayMilliseconds: Int64
    public var order: Order
    /// `--min-healthy` (default 10 s).
    public var minHealthyMilliseconds: Int64
    /// `--healthy-deadline` (default 2 min).
    public var healthyDeadlineMilliseconds: Int64
    /// `--max-failure-ratio`, 0...1 (default 0: any failure triggers ``onFailure``).
    public var maxFailureRatio: Double
    /// `--on-failure` (default pause).
    public var onFailure: FailureAction
    /// `--distribute-deadline`: a node the image has not reached this long after the rollout
    /// started counts failed (an install deadline); nil (default) waits for every node, an
    /// offline one included.
    public var distributeDeadlineMilliseconds: Int64? = nil
    /// `--cleanup`: once the rollout succeeded, each node removes from its engine the images the
    /// rollout replaced that no container uses any more (default false: they stay, as after
    /// `docker pull` of a newer tag).
    public var cleanup: Bool = false

    /// The longest duration an option takes: 24 hours.
    public static let longestMilliseconds: Int64 = 24 * 3600 * 1000

    public init(
        maxParallel: Int = 1, canary: Int = 0, canaryWaitMilliseconds: Int64? = nil, delayMilliseconds: Int64 = 0,
        order: Order = .stopFirst, minHealthyMilliseconds: Int64 = 10_000, healthyDeadlineMilliseconds: Int64 = 120_000,
        maxFailureRatio: Double = 0, onFailure: FailureAction = .pause
    ) {
        self.maxParallel = maxParallel
        self.canary = canary
        self.canaryWaitMilliseconds = canaryWaitMilliseconds
        self.delayMilliseconds = delayMilliseconds
        self.order = order
        self.minHealthyMilliseconds = minHealthyMilliseconds
        self.healthyDeadlineMilliseconds = healthyDeadlineMilliseconds
        self.maxFailureRatio = maxFailureRatio
        self.onFailure = onFailure
    }

    private enum CodingKeys: String, CodingKey {
        case maxParallel, canary, canaryWaitMilliseconds, delayMilliseconds, order, minHealthyMilliseconds, healthyDeadlineMilliseconds
        case maxFailureRatio, onFailure, distributeDeadlineMilliseconds, cleanup
    }

    /// Decodes a plan; a key left out takes its default (the admin API's callers give only what they change).
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let defaults = RolloutPlan()
        maxParallel = try container.decodeIfPresent(Int.self, forKey: .maxParallel) ?? defaults.maxParallel
        canary = try container.decodeIfPresent(Int.self, forKey: .canary) ?? defaults.canary
        canaryWaitMilliseconds = try container.decodeIfPresent(Int64.self, forKey: .canaryWaitMilliseconds)
        delayMilliseconds = try container.decodeIfPresent(Int64.self, forKey: .delayMilliseconds) ?? defaults.delayMilliseconds
        order = try container.decodeIfPresent(Order.self, forKey: .order) ?? defaults.order
        minHealthyMilliseconds = try container.decodeIfPresent(Int64.self, forKey: .minHealthyMilliseconds) ?? defaults.minHealthyMilliseconds
        healthyDeadlineMilliseconds =
            try container.decodeIfPresent(Int64.self, forKey: .healthyDeadlineMilliseconds) ?? defaults.healthyDeadlineMilliseconds
        maxFailureRatio = try container.decodeIfPresent(Double.self, forKey: .maxFailureRatio) ?? defaults.maxFailureRatio
        onFailure = try container.decodeIfPresent(FailureAction.self, forKey: .onFailure) ?? defaults.onFailure
        distributeDeadlineMilliseconds = try container.decodeIfPresent(Int64.self, forKey: .distributeDeadlineMilliseconds)
        cleanup = try container.decodeIfPresent(Bool.self, forKey: .cleanup) ?? defaults.cleanup
    }

    /// Throws ``FerryError/Code/invalidArgument`` naming the first option out of range.
    public func validate() throws(FerryError) {
        guard maxParallel >= 1 else { throw FerryError(.invalidArgument, "--max-parallel must be at least 1 (got \(maxParallel))") }
        guard canary >= 0 else { throw FerryError(.invalidArgument, "--canary must be 0 or more (got \(canary))") }
        guard maxFailureRatio.isFinite, (0...1).contains(maxFailureRatio) else {
            throw FerryError(.invalidArgument, "--max-failure-ratio must be between 0 and 1 (got \(maxFailureRatio))")
        }
        let durations: [(String, Int64?)] = [
            ("--canary-wait", canaryWaitMilliseconds), ("--delay", delayMilliseconds),
            ("--min-healthy", minHealthyMilliseconds), ("--healthy-deadline", healthyDeadlineMilliseconds),
            ("--distribute-deadline", distributeDeadlineMilliseconds),
        ]
        for (option, value) in durations {
            guard let value else { continue }
            guard (0...Self.longestMilliseconds).contains(value) else {
                throw FerryError(.invalidArgument, "\(option) must be between 0s and 24h (got \(value) ms)")
            }
        }
        guard healthyDeadlineMilliseconds > 0 else { throw FerryError(.invalidArgument, "--healthy-deadline must be more than 0s (got \(healthyDeadlineMilliseconds) ms)") }
        if let deadline = distributeDeadlineMilliseconds, deadline < 1000 {
            throw FerryError(.invalidArgument, "--distribute-deadline must be at least 1s (got \(deadline) ms)")
        }
    }

    /// The waves in which `nodes` (in this order) are switched: the canary wave first when
    /// there is one, then groups of ``maxParallel``.
    public func waves(of nodes: [String]) -> [[String]] {
        var waves: [[String]] = []
        var rest = nodes[...]
        if canary > 0, !rest.isEmpty {
            waves.append(Array(rest.prefix(canary)))
            rest = rest.dropFirst(canary)
        }
        while !rest.isEmpty {
            waves.append(Array(rest.prefix(maxParallel)))
            rest = rest.dropFirst(maxParallel)
        }
        return waves
    }

    /// Parses `90s`, `2m`, `1h`, `500ms`, `1m30s` (or a plain number of seconds) into milliseconds.
    public static func milliseconds(parsing text: String, option: String) throws(FerryError) -> Int64 {
        let input = text.trimmingWhitespace()
        // A plain number of seconds: digits and one point only (Double would take 1e3 and 0x10).
        if input.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }), let seconds = Double(input), seconds.isFinite, seconds >= 0 {
            guard seconds * 1000 <= Double(longestMilliseconds) else {
                throw FerryError(.invalidArgument, "\(option) must be between 0s and 24h (got '\(text)')")
            }
            return Int64((seconds * 1000).rounded())
        }
        var total: Double = 0
        var number = ""
        var unit = ""
        var parsedAny = false
        func flush() throws(FerryError) {
            guard let value = Double(number), value.isFinite, value >= 0 else {
                throw FerryError(.invalidArgument, "\(option): '\(text)' is not a duration (examples: 500ms, 30s, 2m, 1h)")
            }
            let scale: Double? = ["ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000][unit]
            guard let scale else { throw FerryError(.invalidArgument, "\(option): unknown unit '\(unit)' in '\(text)' (use ms, s, m or h)") }
            total += value * scale
            parsedAny = true
            number = ""
            unit = ""
        }
        for character in input {
            if character.isNumber || character == "." {
                if !unit.isEmpty { try flush() }
                number.append(character)
            } else if character.isLetter {
                guard !number.isEmpty else { throw FerryError(.invalidArgument, "\(option): '\(text)' is not a duration (examples: 500ms, 30s, 2m, 1h)") }
                unit.append(character)
            } else {
                throw FerryError(.invalidArgument, "\(option): '\(text)' is not a duration (examples: 500ms, 30s, 2m, 1h)")
            }
        }
        if !number.isEmpty || !unit.isEmpty { try flush() }
        guard parsedAny, total <= Double(longestMilliseconds) else {
            throw FerryError(.invalidArgument, "\(option) must be between 0s and 24h (got '\(text)')")
        }
        return Int64(total.rounded())
    }
}
