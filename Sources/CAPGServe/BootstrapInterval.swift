import CAPGCore

/// Percentile bootstrap intervals over queries.
///
/// Each of `resamples` replicates draws n query indices uniformly with replacement (Philox
/// stream `(seed, bootstrap, sample = replicate)`, so intervals are reproducible) and
/// recomputes every statistic on the replicate; the interval is the empirical
/// `[(1−c)/2, (1+c)/2]` quantiles of the replicates (linear interpolation between order
/// statistics). All statistics share the replicates, so a ratio such as the normalized
/// value is resampled jointly with its parts. Cost O(resamples · n · statistics).
public struct BootstrapInterval: Sendable {
    public var resamples: Int
    public var seed: UInt64
    public var confidence: Double

    public init(resamples: Int = 1000, seed: UInt64 = 0, confidence: Double = 0.95) {
        self.resamples = resamples; self.seed = seed; self.confidence = confidence
    }

    /// For each statistic, `(low, high)`: `statistics(indices)` returns the statistics of
    /// the queries `indices` (with repetitions), in a fixed order. NaN replicates (e.g. a
    /// replicate with no query where NDCG is defined) are dropped.
    public func intervals(queries n: Int, statistics: ([Int]) -> [Double]) -> [(low: Double, high: Double)] {
        guard n > 0, resamples > 0 else { return [] }
        var replicates: [[Double]] = []
        var indices = [Int](repeating: 0, count: n)
        for r in 0..<resamples {
            var stream = RandomStream(RandomKey(seed: seed, purpose: .bootstrap, sample: r))
            for i in 0..<n { indices[i] = stream.index(below: n) }
            let s = statistics(indices)
            if replicates.isEmpty { replicates = Array(repeating: [], count: s.count) }
            for (j, v) in s.enumerated() where v.isFinite { replicates[j].append(v) }
        }
        return replicates.map { values in
            let v = values.sorted()
            return (Self.quantile(v, (1 - confidence) / 2), Self.quantile(v, (1 + confidence) / 2))
        }
    }

    /// Quantile `p` of sorted values, linear between order statistics; NaN when empty.
    static func quantile(_ sorted: [Double], _ p: Double) -> Double {
        guard !sorted.isEmpty else { return .nan }
        let h = p * Double(sorted.count - 1)
        let lo = Int(h.rounded(.down)), hi = min(lo + 1, sorted.count - 1)
        return sorted[lo] + (h - Double(lo)) * (sorted[hi] - sorted[lo])
    }
}
