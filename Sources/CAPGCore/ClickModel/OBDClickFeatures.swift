/// Which blocks the click model's feature vector `φ(u, a, p)` of (user row u, item a,
/// position p) contains. Column 0 is always the intercept.
public struct OBDFeatureBlocks: OptionSet, Sendable, Hashable, Codable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    /// One-hot of the item id (N columns): per-item click rates.
    public static let itemOneHot = Self(rawValue: 1 << 0)
    /// One-hot of the position (P columns): position bias.
    public static let position = Self(rawValue: 1 << 1)
    /// The user's one-hot features (du columns).
    public static let user = Self(rawValue: 1 << 2)
    /// The user–item affinity `affinity_{u,a}` (1 column).
    public static let affinity = Self(rawValue: 1 << 3)
    /// The item's features (di columns).
    public static let item = Self(rawValue: 1 << 4)
    /// Outer product `user ⊗ item features` (du·di columns): user-dependent item preferences.
    public static let userTimesItem = Self(rawValue: 1 << 5)

    public static let all: Self = [.itemOneHot, .position, .user, .affinity, .item, .userTimesItem]
}

/// The feature map `φ(u, a, p)` of the OBD click model over an `OBDLog`:
/// `[1 | onehot(a) | onehot(p) | x_u | aff_{u,a} | z_a | x_u ⊗ z_a]` (blocks as selected).
/// Building one row is O(p); a design matrix of R rows is R·p floats.
public struct OBDClickFeatures: Sendable, Hashable {
    public let blocks: OBDFeatureBlocks
    public let itemCount: Int
    public let positionCount: Int
    public let userFeatureCount: Int
    public let itemFeatureCount: Int

    public init(blocks: OBDFeatureBlocks, log: OBDLog) {
        self.blocks = blocks
        itemCount = log.itemCount; positionCount = log.positionCount
        userFeatureCount = log.userFeatureCount; itemFeatureCount = log.itemFeatureCount
    }

    /// Length p of φ.
    public var count: Int {
        var p = 1
        if blocks.contains(.itemOneHot) { p += itemCount }
        if blocks.contains(.position) { p += positionCount }
        if blocks.contains(.user) { p += userFeatureCount }
        if blocks.contains(.affinity) { p += 1 }
        if blocks.contains(.item) { p += itemFeatureCount }
        if blocks.contains(.userTimesItem) { p += userFeatureCount * itemFeatureCount }
        return p
    }

    /// Writes `φ(row, item, position)` into `out[0..<count]`.
    public func write(log: OBDLog, row: Int, item: Int, position: Int, into out: UnsafeMutableBufferPointer<Float>) {
        precondition(out.count >= count && log.itemCount == itemCount)
        var k = 0
        out[k] = 1; k += 1
        if blocks.contains(.itemOneHot) {
            for a in 0..<itemCount { out[k + a] = a == item ? 1 : 0 }
            k += itemCount
        }
        if blocks.contains(.position) {
            for q in 0..<positionCount { out[k + q] = q == position ? 1 : 0 }
            k += positionCount
        }
        let du = userFeatureCount, di = itemFeatureCount
        if blocks.contains(.user) {
            for j in 0..<du { out[k + j] = log.userFeatures[row * du + j] }
            k += du
        }
        if blocks.contains(.affinity) {
            out[k] = log.affinities[row * itemCount + item]; k += 1
        }
        if blocks.contains(.item) {
            for j in 0..<di { out[k + j] = log.itemFeatures[item * di + j] }
            k += di
        }
        if blocks.contains(.userTimesItem) {
            for i in 0..<du {
                let u = log.userFeatures[row * du + i]
                for j in 0..<di { out[k + i * di + j] = u * log.itemFeatures[item * di + j] }
            }
            k += du * di
        }
        assert(k == count)
    }

    /// Design matrix (rows × count, row-major) and click labels of logged rows `rows`.
    public func design(log: OBDLog, rows: Range<Int>) -> (x: [Float], y: [Float]) {
        let p = count
        var x = [Float](repeating: 0, count: rows.count * p)
        x.withUnsafeMutableBufferPointer { xb in
            for (r, i) in rows.enumerated() {
                write(log: log, row: i, item: Int(log.itemIDs[i]), position: Int(log.positions[i]),
                      into: UnsafeMutableBufferPointer(rebasing: xb[r * p ..< (r + 1) * p]))
            }
        }
        return (x, Array(log.clicks[rows]))
    }
}
