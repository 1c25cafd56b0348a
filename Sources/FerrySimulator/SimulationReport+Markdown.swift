import FerryCore
import FerryPolicy

extension SimulationReport {
    /// A markdown section: the parameters, the results table, the growth fits and the model's
    /// assumptions. `heading` is the section's title (a level-2 heading).
    public func markdown(heading: String = "Simulated installs") -> String {
        var lines = ["## \(heading)", ""]
        if let first = results.first?.configuration {
            lines.append(Self.parameters(first))
            lines.append("")
        }
        lines.append(table())
        if !growth.isEmpty {
            lines += ["", "Growth of completion time with N (least squares over the runs above):", ""]
            lines += growthLines()
        }
        if let first = results.first?.configuration {
            lines += ["", "Model assumptions:", ""]
            lines += Self.assumptions(first).map { "- \($0)" }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// The results as a markdown table, one row per run.
    public func table() -> String {
        var lines = [
            "| N | peers | p50 | p99 | max | max / limit | upstream bytes | leader sent | peers sent | max depth | mean depth | leader peak uploads | peer peak uploads | over-cap picks | events | run time (CPU) |",
            "|---:|:---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for result in results {
            let image = Double(result.configuration.imageSize)
            let cells = [
                Self.grouped(result.configuration.nodes),
                result.configuration.peersEnabled ? "on" : "off",
                Self.seconds(result.p50), Self.seconds(result.p99), Self.seconds(result.max),
                Self.fixed(result.maxRatio, 2) + "×",
                Self.fixed(Double(result.bytesFromUpstream) / image, 2) + "× image",
                Self.fixed(Double(result.bytesFromLeader) / image, 2) + "×",
                Self.fixed(Double(result.bytesFromPeers) / image, 1) + "×",
                "\(result.maxTreeDepth)", Self.fixed(result.meanTreeDepth, 1),
                "\(result.leaderPeakUploads)", "\(result.peerPeakUploads)",
                Self.grouped(result.overCapAssignments),
                Self.grouped(result.events),
                result.runSeconds.map { Self.fixed($0, 2) + " s" } ?? "–",
            ]
            lines.append("| " + cells.joined(separator: " | ") + " |")
        }
        return lines.joined(separator: "\n")
    }

    /// One line per fit: `p50 (peers on) ≈ a + b·log2 N (R² …); linear: …`.
    public func growthLines() -> [String] {
        growth.map { fit in
            let peers = fit.peersEnabled ? "peers on" : "peers off"
            let r2 = { (value: Double?) in value.map { Self.fixed($0, 3) } ?? "n/a" }
            return "- \(fit.statistic) (\(peers)): ≈ \(Self.fixed(fit.log2.intercept, 2)) s + \(Self.fixed(fit.log2.slope, 3)) s × log2 N "
                + "(R² \(r2(fit.log2.rSquared))); linear: \(Self.fixed(fit.linear.intercept, 2)) s + \(Self.fixed(fit.linear.slope * 1000, 3)) ms × N "
                + "(R² \(r2(fit.linear.rSquared)))"
        }
    }

    /// The run's parameters in one line.
    public static func parameters(_ configuration: SimulationConfiguration) -> String {
        let c = configuration
        return "Image \(ByteSize.format(c.imageSize)) in \(c.blobs) blobs, chunks of \(ByteSize.format(c.chunkSize)); "
            + "upstream \(rate(c.upstreamRate)), node links \(rate(c.nodeRate)) up and down; latency \(millis(c.latency)) per hop"
            + (c.latencyJitter > 0 ? " + 0–\(millis(c.latencyJitter)) spread" : "")
            + ", upstream \(millis(c.upstreamLatency)); start stagger \(millis(c.stagger)); "
            + "peer slots \(c.peerSlots), leader slots \(c.leaderSlots), slots counted per \(c.slotScope.rawValue), upload limit \(c.uploadLimit), "
            + "receiving known at \(c.receivingKnown.rawValue); \(c.upstreamParallel) upstream downloads at once; seed \(c.seed). "
            + "Physical limit (image / upstream rate): \(seconds(c.physicalLimit))."
    }

    /// What the model assumes, in plain words.
    public static func assumptions(_ configuration: SimulationConfiguration) -> [String] {
        let c = configuration
        return [
            "N followers plus one leader; the leader starts downloading at t = 0, \(c.upstreamParallel) blob(s) at a time sharing the upstream link equally; the followers send their source requests at t = 0"
                + (c.stagger > 0 ? " + U[0, \(millis(c.stagger))) each" : "") + ", all blobs at once, in a seeded random order.",
            "The tracker is the leader's own (`TrackerState`, FerryPolicy): it answers each (follower, blob) request with the first source of `SourceSelector.rank`; "
                + "activeUploads counts the transfers a node serves (\(c.slotScope == .node ? "all blobs, as the old tracker did" : "this blob only, as `Tracker` does; all blobs together are bounded by the upload limit")), from assignment until the receiver's `present` report reaches the leader; "
                + "feeds hold every assignment not yet reported present; a follower is listed as receiving \(c.receivingKnown == .assignment ? "as soon as it is assigned a source (as `Tracker` does)" : "once its `receiving` event reaches the leader, one round trip after the answer (as the old tracker did)").",
            "As `Tracker` does, a candidate still receiving is listed with 0 bytes, a complete one with the blob's size; a source is never changed once assigned (no failures, so `have` is always 0).",
            "Blobs move in chunks of \(ByteSize.format(c.chunkSize)): a node serves chunk k once all of it has arrived (cut-through at chunk granularity), so a receiver never overtakes its source.",
            "A chunk in flight gets min(sender uplink / chunks its sender is sending now, receiver downlink / chunks its receiver is receiving now); shares are recomputed whenever a transfer starts, stalls or ends (no max-min redistribution of unused share).",
            "Latency: a request costs one hop to the leader and back; the follower then posts its `receiving` event and waits for the reply (one more round trip, as `MeshFetcher` does) before its GET travels one hop to the source; each chunk takes one hop to the receiver; a `present` report one hop to the leader. Pipelining is perfect (no TCP or TLS handshakes, no slow start, no per-chunk round trips).",
            "A blob the leader has not started downloading (more blobs than its \(c.upstreamParallel) parallel upstream downloads) has no source: the answer is empty and the follower asks again after MeshFetcher's backoff (0.2 s, doubling, at most 2 s).",
            "Not modelled: the leader's processing time (requests are answered instantly, in arrival order, however many arrive at once), manifest and config-blob fetches before the layers, disk and hashing speed, verification, loading into Docker, packet loss, failures and resumes, TLS handshakes, rate caps (`--max-upload-rate`, `--max-download-rate`), shared switch or rack bottlenecks (only node links and the upstream link are finite).",
        ]
    }

    static func rate(_ bytesPerSecond: Int64) -> String {
        let bits = Double(bytesPerSecond) * 8
        if bits >= 1e9 { return fixed(bits / 1e9, bits.truncatingRemainder(dividingBy: 1e9) == 0 ? 0 : 2) + " Gbit/s" }
        return fixed(bits / 1e6, bits.truncatingRemainder(dividingBy: 1e6) == 0 ? 0 : 2) + " Mbit/s"
    }

    static func millis(_ seconds: Double) -> String {
        seconds >= 1 ? fixed(seconds, 2) + " s" : fixed(seconds * 1000, seconds * 1000 < 10 ? 2 : 1) + " ms"
    }

    static func seconds(_ value: Double) -> String { fixed(value, 2) + " s" }

    /// `value` with `digits` decimals, without Foundation.
    static func fixed(_ value: Double, _ digits: Int) -> String {
        guard value.isFinite else { return "\(value)" }
        var scale = 1.0
        for _ in 0..<digits { scale *= 10 }
        let scaled = (abs(value) * scale).rounded()
        let whole = Int64(scaled / scale)
        let fraction = Int64(scaled - Double(whole) * scale)
        let sign = value < 0 && scaled != 0 ? "-" : ""
        guard digits > 0 else { return sign + String(whole) }
        let text = String(fraction)
        return sign + String(whole) + "." + String(repeating: "0", count: digits - text.count) + text
    }

    /// `12345` → `12,345`.
    static func grouped(_ value: Int) -> String {
        let digits = String(value.magnitude)
        var out = ""
        for (index, character) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { out.append(",") }
            out.append(character)
        }
        return (value < 0 ? "-" : "") + out
    }
}
