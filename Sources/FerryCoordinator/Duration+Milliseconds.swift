extension Duration {
    /// The whole milliseconds in it (rounded down), for reports and log fields.
    var wholeMilliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }
}
