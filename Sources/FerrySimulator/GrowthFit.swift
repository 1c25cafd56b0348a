import Foundation

/// A least-squares line `y = intercept + slope · x` through measured points, with its coefficient
/// of determination: how completion time grows with the cluster's size.
public struct GrowthFit: Sendable, Hashable, Codable {
    /// What `x` is.
    public enum Scale: String, Sendable, Hashable, Codable {
        /// `x = log2(N)`: the growth the design targets.
        case log2
        /// `x = N`.
        case linear
    }

    public var scale: Scale
    public var intercept: Double
    /// Seconds per doubling of N (``Scale/log2``) or per node (``Scale/linear``).
    public var slope: Double
    /// R²: 1 is a perfect fit; nil with fewer than three distinct node counts (a line through
    /// two points always fits).
    public var rSquared: Double?

    /// Fits `times` against the node counts on `scale`; nil with fewer than two distinct counts.
    public init?(nodes: [Int], times: [Double], scale: Scale) {
        guard nodes.count == times.count, Set(nodes).count >= 2 else { return nil }
        let xs = nodes.map { scale == .log2 ? Foundation.log2(Double($0)) : Double($0) }
        let count = Double(xs.count)
        let meanX = xs.reduce(0, +) / count
        let meanY = times.reduce(0, +) / count
        var sxy = 0.0
        var sxx = 0.0
        var syy = 0.0
        for (x, y) in zip(xs, times) {
            sxy += (x - meanX) * (y - meanY)
            sxx += (x - meanX) * (x - meanX)
            syy += (y - meanY) * (y - meanY)
        }
        self.scale = scale
        slope = sxy / sxx
        intercept = meanY - slope * meanX
        if Set(nodes).count < 3 {
            rSquared = nil
        } else {
            rSquared = syy == 0 ? 1 : (sxy * sxy) / (sxx * syy)
        }
    }

    /// The fitted time at `nodes`.
    public func predict(_ nodes: Int) -> Double {
        intercept + slope * (scale == .log2 ? Foundation.log2(Double(nodes)) : Double(nodes))
    }
}
