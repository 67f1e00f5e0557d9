import Foundation
import XCTest

/// Runs the built `capg` executable as a user would and checks exit codes and output.
final class CLITests: XCTestCase {
    var binary: URL {
        // The test bundle sits in the build products directory next to the executable.
        var dir = Bundle(for: CLITests.self).bundleURL.deletingLastPathComponent()
        if !FileManager.default.fileExists(atPath: dir.appendingPathComponent("capg").path) {
            dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        }
        return dir.appendingPathComponent("capg")
    }

    func run(_ args: [String]) throws -> (code: Int32, out: String, err: String) {
        let p = Process()
        p.executableURL = binary
        p.arguments = args
        let o = Pipe(), e = Pipe()
        p.standardOutput = o; p.standardError = e
        try p.run()
        let out = o.fileHandleForReading.readDataToEndOfFile()
        let err = e.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
    }

    func testHelpExplainsOptions() throws {
        let r = try run(["train", "--help"])
        XCTAssertEqual(r.code, 0)
        for flag in ["--items", "--dim", "--k", "--estimator", "--inclusion", "--baseline", "--batch-size", "--steps", "--lr", "--seed", "--run-dir", "--config", "--set",
                     "--lsr-mode", "--lsr-lr", "--lsr-alignment", "--scorer-command", "--scorer-socket", "--scorer-timeout"] {
            XCTAssertTrue(r.out.contains(flag), "help lacks \(flag)")
        }
    }

    func testBadValuesAreRejected() throws {
        for args in [["train", "--estimator", "ppo"], ["train", "--k", "0"], ["train", "--set", "bogus=1"],
                     ["train", "--items", "10", "--k", "11"], ["inclusion", "--scores", "1,x", "--k", "1"],
                     ["inclusion", "--scores", "1,2", "--k", "1", "--model", "magic"], ["variance", "--k", "5,-1"],
                     ["train", "--lsr-mode", "joint"],                 // learned LSR needs τ₂ > 0
                     ["train", "--scorer-command", "x", "--scorer-socket", "/tmp/s"],
                     ["variance", "--lsr-mode", "joint", "--lsr-temperature", "0.1"]] {
            let r = try run(args)
            XCTAssertNotEqual(r.code, 0, "\(args) should fail")
            XCTAssertFalse(r.err.isEmpty, "\(args) should explain the failure on stderr")
        }
    }

    func testInclusionJSON() throws {
        let r = try run(["inclusion", "--scores", "0.5,0,-1,2", "--k", "2", "--model", "exact", "--json"])
        XCTAssertEqual(r.code, 0, r.err)
        let obj = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [String: Any]
        XCTAssertEqual(obj["model"] as? String, "exact")
        XCTAssertEqual(obj["k"] as? Int, 2)
        let p = obj["p"] as! [Double]
        XCTAssertEqual(p.count, 4)
        XCTAssertEqual(p.reduce(0, +), 2, accuracy: 1e-9)
    }

    func testVarianceJSON() throws {
        let r = try run(["variance", "--items", "300", "--k", "5,20", "--samples", "20", "--contexts", "2",
                         "--reference-samples", "200", "--json"])
        XCTAssertEqual(r.code, 0, r.err)
        let rows = try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as! [[String: Any]]
        XCTAssertEqual(rows.count, 6)
        for row in rows {
            for key in ["estimator", "inclusion", "k", "variance_scores", "variance_params", "cosine_to_reference", "snr"] {
                XCTAssertNotNil(row[key], key)
            }
        }
    }
}
