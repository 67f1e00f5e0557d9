/// A logged bandit data set in the Open Bandit Dataset layout (ZOZOTOWN, Saito et al. 2021),
/// already encoded as numbers (pure data; `CAPGData.OBDLoader` reads the CSV files):
///
/// - per logged row i: the shown item `itemIDs[i]` ∈ 0..<itemCount, its slot
///   `positions[i]` ∈ 0..<positionCount (the CSV's 1-based position minus 1), the click
///   `clicks[i]` ∈ {0, 1}, the user's features `userFeatures[i·du ..< (i+1)·du]` (one-hot
///   blocks of the categorical `user_feature_*` columns) and the user–item affinities
///   `affinities[i·N ..< (i+1)·N]` (one per item);
/// - per item a: its features `itemFeatures[a·di ..< (a+1)·di]` (numeric columns as is,
///   categorical columns one-hot).
public struct OBDLog: Sendable, Equatable {
    public let itemCount: Int
    public let positionCount: Int
    public let userFeatureNames: [String]
    public let itemFeatureNames: [String]
    public let userFeatures: [Float]
    public let affinities: [Float]
    public let itemFeatures: [Float]
    public let itemIDs: [Int32]
    public let positions: [Int32]
    public let clicks: [Float]

    public init(itemCount: Int, positionCount: Int, userFeatureNames: [String], itemFeatureNames: [String],
                userFeatures: [Float], affinities: [Float], itemFeatures: [Float],
                itemIDs: [Int32], positions: [Int32], clicks: [Float]) {
        let n = itemIDs.count
        precondition(positions.count == n && clicks.count == n, "per-row arrays differ in length")
        precondition(userFeatures.count == n * userFeatureNames.count, "user features must be rows × du")
        precondition(affinities.count == n * itemCount, "affinities must be rows × items")
        precondition(itemFeatures.count == itemCount * itemFeatureNames.count, "item features must be items × di")
        precondition(itemIDs.allSatisfy { $0 >= 0 && Int($0) < itemCount }, "item id out of range")
        precondition(positions.allSatisfy { $0 >= 0 && Int($0) < positionCount }, "position out of range")
        self.itemCount = itemCount; self.positionCount = positionCount
        self.userFeatureNames = userFeatureNames; self.itemFeatureNames = itemFeatureNames
        self.userFeatures = userFeatures; self.affinities = affinities; self.itemFeatures = itemFeatures
        self.itemIDs = itemIDs; self.positions = positions; self.clicks = clicks
    }

    public var rowCount: Int { itemIDs.count }
    public var userFeatureCount: Int { userFeatureNames.count }
    public var itemFeatureCount: Int { itemFeatureNames.count }
    public var clickCount: Int { Int(clicks.reduce(0, +)) }

    /// Deterministic split by row index: the first `⌊trainFraction·n⌋` rows (the log is in
    /// time order) train, the rest test, so the held-out rows are later in time.
    public func split(trainFraction: Double) -> (train: Range<Int>, test: Range<Int>) {
        precondition(trainFraction > 0 && trainFraction < 1)
        let cut = Int(Double(rowCount) * trainFraction)
        return (0..<cut, cut..<rowCount)
    }
}
