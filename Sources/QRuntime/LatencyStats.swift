// Summary statistics of a set of latency samples, as benchmark tools report them.

/// min / median / mean / p90 / p99 / max / std of samples in milliseconds.
public struct LatencyStats: Codable, Equatable, Sendable {
    public var count: Int
    public var min: Double
    public var median: Double
    public var mean: Double
    public var p90: Double
    public var p99: Double
    public var max: Double
    public var std: Double

    /// Percentiles use linear interpolation between closest ranks (numpy's default).
    public init(_ samples: [Double]) {
        precondition(!samples.isEmpty, "no samples")
        let s = samples.sorted()
        func percentile(_ p: Double) -> Double {
            let position = p / 100 * Double(s.count - 1)
            let lo = Int(position.rounded(.down)), hi = Swift.min(lo + 1, s.count - 1)
            return s[lo] + (s[hi] - s[lo]) * (position - Double(lo))
        }
        count = s.count
        min = s[0]
        max = s[s.count - 1]
        median = percentile(50)
        p90 = percentile(90)
        p99 = percentile(99)
        mean = s.reduce(0, +) / Double(s.count)
        let m = mean
        std = (s.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(s.count)).squareRoot()
    }
}
