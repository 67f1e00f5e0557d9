import CAPGCore
import CAPGData
import Foundation
import XCTest

/// Tests on the real samples (MSLR-WEB 5k-line folds from rankeval 0.8.2, the OBD sample from
/// obp 0.4.1), fetched by `scripts/fetch-data.sh` into the git-ignored `data/` directory.
/// Skipped (with the reason) only if the fetch fails, e.g. without network.
final class RealDataTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let dataDir = root.appendingPathComponent("data")

    /// Runs the fetch script once per process (it is idempotent and fast when data exist).
    static let fetchResult: String? = {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/bash")
        p.arguments = [root.appendingPathComponent("scripts/fetch-data.sh").path, dataDir.path]
        let err = Pipe()
        p.standardError = err
        p.standardOutput = FileHandle.nullDevice
        do { try p.run() } catch { return "cannot run scripts/fetch-data.sh: \(error)" }
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return p.terminationStatus == 0 ? nil : message
    }()

    func requireData() throws {
        if let m = Self.fetchResult {
            throw XCTSkip("real-data samples unavailable (scripts/fetch-data.sh failed, network?): \(m)")
        }
    }

    var mslrTrain: String { Self.dataDir.appendingPathComponent("mslr/msn1.fold1.train.5k.txt").path }
    var mslrTest: String { Self.dataDir.appendingPathComponent("mslr/msn1.fold1.test.5k.txt").path }

    func testMSLRSampleFacts() throws {
        try requireData()
        for (path, queries, counts) in [(mslrTrain, 43, [2792, 1458, 665, 55, 30]), (mslrTest, 43, [2847, 1442, 579, 98, 34])] {
            let (d, s) = try LetorReader.read(path: path, options: LetorReadOptions(featureCount: 136, maxLabel: 4))
            XCTAssertEqual(s.documents, 5000)
            XCTAssertEqual(s.lines, 5000)
            XCTAssertEqual(s.queries, queries)
            XCTAssertEqual(d.queryCount, queries)
            XCTAssertEqual(d.featureCount, 136)
            XCTAssertEqual(d.features.count, 5000 * 136)
            XCTAssertEqual((0...4).map { l in d.labels.filter { $0 == Float(l) }.count }, counts)
            XCTAssertEqual(d.qids.first, path == mslrTrain ? "1" : d.qids.first)
            // The first document of the train fold: "2 qid:1 1:3 2:3 3:0 4:0 5:3 … 16:6.931275 …".
            if path == mslrTrain {
                XCTAssertEqual(d.labels[0], 2)
                XCTAssertEqual(Array(d.features[0..<5]), [3, 3, 0, 0, 3])
                XCTAssertEqual(d.features[15], 6.931275)
            }
            // Sharding over 2 and 3 ranks partitions the documents.
            for size in [2, 3] {
                var docs = 0, qs = 0
                for rank in 0..<size {
                    let (part, _) = try LetorReader.read(path: path, options: LetorReadOptions(featureCount: 136, rank: rank, size: size))
                    docs += part.documentCount; qs += part.queryCount
                }
                XCTAssertEqual(docs, 5000); XCTAssertEqual(qs, queries)
            }
            let env = try LetorEnvironment(dataset: d, config: LetorEnvironmentConfig(maxRelevance: 4))
            XCTAssertEqual(env.query(at: 0).itemCount, d.documentCount(of: 0))
        }
    }

    /// Throughput of the reader on the MSLR train fold (meaningful in a release build:
    /// `swift test -c release --filter RealDataTests/testMSLRReaderThroughput`).
    func testMSLRReaderThroughput() throws {
        try requireData()
        var best: LetorReadStatistics? = nil
        for _ in 0..<5 {
            let (_, s) = try LetorReader.read(path: mslrTrain, options: LetorReadOptions(featureCount: 136))
            if best == nil || s.seconds < best!.seconds { best = s }
        }
        guard let best else { return
        }
        print(String(format: "LETOR reader on %@: %d bytes, %d lines, %d queries in %.4f s: %.1f MB/s, %.0f lines/s",
                     (mslrTrain as NSString).lastPathComponent, best.bytes, best.lines, best.queries, best.seconds,
                     best.megabytesPerSecond, best.linesPerSecond))
        XCTAssertGreaterThan(best.megabytesPerSecond, 1)
    }

    /// A linear scorer over standardized features with weights fitted by least squares on
    /// the train fold ranks the test fold better than random (sanity check of the data path).
    func testMSLRFeaturesCarrySignal() throws {
        try requireData()
        var (train, _) = try LetorReader.read(path: mslrTrain, options: LetorReadOptions(featureCount: 136))
        var (test, _) = try LetorReader.read(path: mslrTest, options: LetorReadOptions(featureCount: 136))
        var m = FeatureMoments(featureCount: 136)
        train.features.withUnsafeBufferPointer { m.accumulate($0, rows: train.documentCount) }
        let st = m.standardizer()
        train.standardize(with: st); test.standardize(with: st)
        // Logistic regression of "label ≥ 2" on the standardized features, as a scorer.
        let x = zip(0..<train.documentCount, 0...).flatMap { d, _ in [Float(1)] + Array(train.features[d * 136 ..< (d + 1) * 136]) }
        let y = train.labels.map { Float($0 >= 2 ? 1 : 0) }
        let (lr, _) = LogisticRegression.fit(design: x, labels: y, rows: train.documentCount, columns: 137, l2: 1e-2,
                                             optimizer: LBFGS(maxIterations: 200))
        let esr = LinearESR(featureCount: 136)
        let params = lr.weights[1...].map(Float.init) + [Float(lr.weights[0])]
        var fitted = RankingMetricSums(), random = RankingMetricSums()
        for q in 0..<test.queryCount {
            let n = test.documentCount(of: q)
            let s = test.withFeatures(of: q) { esr.scores(parameters: params, features: $0, documents: n) }
            let labels = Array(test.labels(of: q))
            let top = RankingMetrics.ranking(scores: s).prefix(10)
            fitted.add(ndcg: RankingMetrics.ndcg(scores: s, labels: labels, k: 10), recall: RankingMetrics.bestDocumentRecall(candidates: top, labels: labels))
            let r = randomScores(n, seed: q)
            random.add(ndcg: RankingMetrics.ndcg(scores: r, labels: labels, k: 10),
                       recall: RankingMetrics.bestDocumentRecall(candidates: RankingMetrics.ranking(scores: r).prefix(10), labels: labels))
        }
        print(String(format: "MSLR test fold NDCG@10: linear model %.4f, random %.4f (%d queries, %d excluded)",
                     fitted.meanNDCG, random.meanNDCG, Int(fitted.evaluated), Int(fitted.excluded)))
        XCTAssertGreaterThan(fitted.meanNDCG, random.meanNDCG + 0.05)
    }

    var obdDir: String { Self.dataDir.appendingPathComponent("obd/random/all").path }

    func testOBDSampleFactsAndClickModel() throws {
        try requireData()
        let log = try OBDLoader.load(directory: obdDir)
        XCTAssertEqual(log.rowCount, 10_000)
        XCTAssertEqual(log.itemCount, 80)
        XCTAssertEqual(log.positionCount, 3)
        XCTAssertEqual(log.clickCount, 38)
        // 4 categorical user features with 3, 5, 8, 8 values; item_feature_0 numeric, 1–3 with 12, 21, 7 values.
        XCTAssertEqual(log.userFeatureCount, 24)
        XCTAssertEqual(log.itemFeatureCount, 1 + 12 + 21 + 7)
        XCTAssertEqual(Set(log.itemIDs).count, 80)
        for r in [0, 5000, 9999] {
            XCTAssertEqual((0..<log.userFeatureCount).map { log.userFeatures[r * 24 + $0] }.reduce(0, +), 4)
        }
        let (train, test) = log.split(trainFraction: 0.8)
        var lines: [String] = []
        var results: [(String, ClickModelComparison)] = []
        for (name, blocks, l2) in [("item+position", OBDFeatureBlocks([.itemOneHot, .position]), 1e-3),
                                   ("all blocks (user⊗item)", OBDFeatureBlocks.all, 1e-2)] {
            let (model, _) = OBDClickModel.fit(log: log, rows: train, blocks: blocks, l2: l2)
            let c = ClickModelComparison(model: model, log: log, train: train, test: test)
            results.append((name, c))
            lines.append("OBD click model [\(name), λ=\(l2), p=\(model.features.count)]: \(c)")
        }
        print(lines.joined(separator: "\n"))
        // The per-item model beats the constant rate on the later 20% of the log.
        XCTAssertGreaterThan(results[0].1.lift, 0)
        let (model, _) = OBDClickModel.fit(log: log, rows: train, blocks: [.itemOneHot, .position], l2: 1e-3)
        let env = OBDEnvironment(log: log, model: model, config: OBDEnvironmentConfig())
        let q = env.query(row: test.lowerBound)
        XCTAssertEqual(q.itemCount, 80)
        XCTAssertTrue((0..<80).allSatisfy { q.expectedReward(of: $0) > 0 && q.expectedReward(of: $0) < 0.05 })
    }

    func testOBDErrorsNameFileAndLine() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("capg-obd-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let items = ",item_id,item_feature_0,item_feature_1\n0,0,0.5,a\n1,1,-0.5,b\n"
        try items.write(to: dir.appendingPathComponent("item_context.csv"), atomically: true, encoding: .utf8)
        let header = ",timestamp,item_id,position,click,propensity_score,user_feature_0,user-item_affinity_0,user-item_affinity_1\n"
        func expect(_ body: String, _ fragment: String, line: UInt = #line) throws {
            let path = dir.appendingPathComponent("all.csv")
            try (header + body).write(to: path, atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try OBDLoader.load(directory: dir.path), line: line) {
                XCTAssertTrue("\($0)".contains(fragment), "'\($0)' lacks '\(fragment)'", line: line)
                XCTAssertTrue("\($0)".hasPrefix(path.path + ":") || fragment.isEmpty, "\($0)", line: line)
            }
        }
        let ok = "0,t,1,2,0,0.5,u1,0.0,1.0\n"
        let log = try { () throws -> OBDLog in
            try (header + ok + "1,t,0,1,1,0.5,u2,2.0,0.0\n").write(to: dir.appendingPathComponent("all.csv"), atomically: true, encoding: .utf8)
            return try OBDLoader.load(directory: dir.path)
        }()
        XCTAssertEqual(log.itemIDs, [1, 0]); XCTAssertEqual(log.positions, [1, 0]); XCTAssertEqual(log.clicks, [0, 1])
        XCTAssertEqual(log.userFeatureNames, ["user_feature_0=u1", "user_feature_0=u2"])
        XCTAssertEqual(log.itemFeatures, [0.5, 1, 0, -0.5, 0, 1])
        XCTAssertEqual(log.affinities, [0, 1, 2, 0])
        try expect(ok + "1,t,5,1,0,0.5,u1,0,0\n", ":3: item id 5 is outside 0..<2")
        try expect(ok + "1,t,1,1,2,0.5,u1,0,0\n", ":3: column 'click' has value '2', expected 0 or 1")
        try expect(ok + "1,t,1,x,0,0.5,u1,0,0\n", ":3: column 'position' has value 'x'")
        try expect(ok + "1,t,1,1,0,0.5,u1,nan,0\n", ":3: column 'user-item_affinity_0' has value 'nan'")
        try expect(ok + "1,t,1,1,0,0.5\n", ":3: expected 9 comma-separated fields")
        try expect("", "no data rows")
    }
}

/// Deterministic pseudo-random scores (the project's generator).
func randomScores(_ n: Int, seed: Int) -> [Double] {
    var s = RandomStream(RandomKey(seed: 999, purpose: .variance, query: seed))
    return (0..<n).map { _ in s.normal() }
}
