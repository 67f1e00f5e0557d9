import Foundation
import XCTest

/// Training on the real samples under a real `mpirun -np 2`: the MSLR-WEB sample (train fold
/// sharded over the ranks, evaluated on the test fold) and the Open Bandit Dataset sample.
/// The data are fetched by `scripts/fetch-data.sh` (the test command runs it first); without
/// them (no network) these tests are skipped with the reason.
final class RealDataTrainingTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    var data: String { Self.root.appendingPathComponent("data").path }

    func requireFile(_ path: String) throws {
        if !FileManager.default.fileExists(atPath: path) {
            throw XCTSkip("\(path) missing: run scripts/fetch-data.sh (needs network to PyPI)")
        }
    }

    /// CA-PG and V-PG trained at np = 2 on the MSLR train fold both beat the random ESR on the
    /// test fold, and NDCG@K of the ESR is reported.
    func testLetorTrainingBeatsRandomESR() throws {
        let train = data + "/mslr/msn1.fold1.train.5k.txt", test = data + "/mslr/msn1.fold1.test.5k.txt"
        try requireFile(train); try requireFile(test)
        for est in ["capg", "vpg"] {
            let dir = tempDir()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let r = try mpirun(2, ["train", "--data", "letor", "--train", train, "--test", test, "--estimator", est,
                                   "--baseline", est == "vpg" ? "mean" : "none", "--k", "10", "--batch-size", "16",
                                   "--steps", "150", "--eval-every", "50", "--lr", "0.02", "--lsr-noise", "0.5",
                                   "--run-dir", dir, "--quiet"], timeLimit: 300)
            XCTAssertEqual(r.code, 0, r.err)
            let s = try summary(dir)
            let value = s["final_value"] as! Double, random = s["random_value"] as! Double
            XCTAssertGreaterThan(value, random, "\(est): value \(value) vs random ESR \(random)")
            XCTAssertNotNil(s["ndcg"] as? Double, "\(est): NDCG@K missing")
        }
    }

    /// On the OBD sample (real contexts, fitted click model) the trained ESR beats random.
    func testOBDTrainingBeatsRandomESR() throws {
        let dir0 = data + "/obd/random/all"
        try requireFile(dir0 + "/all.csv")
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try mpirun(2, ["train", "--data", "obd", "--obd-dir", dir0, "--k", "5", "--batch-size", "32",
                               "--steps", "60", "--eval-every", "30", "--lr", "0.05", "--lsr-noise", "0.0005",
                               "--set", "eval_queries=200", "--run-dir", dir, "--quiet"], timeLimit: 300)
        XCTAssertEqual(r.code, 0, r.err)
        let s = try summary(dir)
        XCTAssertGreaterThan(s["final_value"] as! Double, s["random_value"] as! Double)
        XCTAssertEqual(s["ranks"] as? Int, 2)
    }
}
