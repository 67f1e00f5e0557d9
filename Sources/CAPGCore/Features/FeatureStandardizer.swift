/// Sufficient statistics of feature columns for standardization: the row count and, per
/// column j, `Σ_i x_ij` and `Σ_i x_ij²` (in Double).
///
/// They are sums, so the shards of a distributed training set combine by `+` (or by one
/// allreduce of `packed`) and every rank derives the same standardizer. Accumulation is
/// O(rows·F). The one-pass variance `Σx²/n − mean²` loses digits only when |mean| ≫ std
/// by ~10⁸, far beyond LETOR features; it is clamped at 0.
public struct FeatureMoments: Sendable, Equatable {
    public let featureCount: Int
    public private(set) var count: Double = 0
    public private(set) var sum: [Double]
    public private(set) var sumOfSquares: [Double]

    public init(featureCount: Int) {
        self.featureCount = featureCount
        sum = [Double](repeating: 0, count: featureCount)
        sumOfSquares = sum
    }

    /// Rebuilds moments from `packed` (as produced by `packed`, e.g. after an allreduce).
    public init(featureCount: Int, packed: [Double]) {
        precondition(packed.count == 2 * featureCount + 1, "packed moments must hold 2F+1 values")
        self.featureCount = featureCount
        count = packed[0]
        sum = Array(packed[1 ... featureCount])
        sumOfSquares = Array(packed[(featureCount + 1)...])
    }

    /// `[count, Σx (F), Σx² (F)]`, one buffer for a single allreduce.
    public var packed: [Double] { [count] + sum + sumOfSquares }

    /// Adds `rows` row-major rows of F features.
    public mutating func accumulate(_ x: UnsafeBufferPointer<Float>, rows: Int) {
        precondition(x.count >= rows * featureCount)
        let f = featureCount
        sum.withUnsafeMutableBufferPointer { s in
            sumOfSquares.withUnsafeMutableBufferPointer { s2 in
                for r in 0..<rows {
                    let row = r * f
                    for j in 0..<f {
                        let v = Double(x[row + j])
                        s[j] += v
                        s2[j] += v * v
                    }
                }
            }
        }
        count += Double(rows)
    }

    public static func + (a: Self, b: Self) -> Self {
        precondition(a.featureCount == b.featureCount)
        var c = a
        c.count += b.count
        for j in 0..<a.featureCount { c.sum[j] += b.sum[j]; c.sumOfSquares[j] += b.sumOfSquares[j] }
        return c
    }

    /// The standardizer `z = (x − mean)/std` of these moments (population std).
    public func standardizer() -> FeatureStandardizer {
        precondition(count > 0, "cannot standardize with no rows")
        var mean = [Float](repeating: 0, count: featureCount)
        var inv = [Float](repeating: 0, count: featureCount)
        for j in 0..<featureCount {
            let m = sum[j] / count
            let variance = max(0, sumOfSquares[j] / count - m * m)
            mean[j] = Float(m)
            // A constant column carries no information: map it to 0 instead of dividing by 0.
            inv[j] = variance > 1e-12 * max(1, m * m) ? Float(1 / variance.squareRoot()) : 0
        }
        return FeatureStandardizer(mean: mean, inverseStd: inv)
    }
}

/// Per-feature affine standardization `z_j = (x_j − μ_j) · (1/σ_j)`, with μ, σ computed on
/// the training data (`FeatureMoments.standardizer()`) and applied unchanged to held-out
/// data. Columns with σ = 0 get `1/σ := 0` (they become 0). O(F) per row.
public struct FeatureStandardizer: Sendable, Equatable, Codable {
    public let mean: [Float]
    public let inverseStd: [Float]

    public init(mean: [Float], inverseStd: [Float]) {
        precondition(mean.count == inverseStd.count)
        self.mean = mean; self.inverseStd = inverseStd
    }

    public var featureCount: Int { mean.count }

    /// Standardizes `rows` row-major rows in place.
    public func apply(to x: inout [Float], rows: Int) {
        let f = featureCount
        precondition(x.count >= rows * f)
        mean.withUnsafeBufferPointer { mu in
            inverseStd.withUnsafeBufferPointer { inv in
                x.withUnsafeMutableBufferPointer { x in
                    for r in 0..<rows {
                        let row = r * f
                        for j in 0..<f { x[row + j] = (x[row + j] - mu[j]) * inv[j] }
                    }
                }
            }
        }
    }
}
