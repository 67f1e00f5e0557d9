import CAPGData
import CAPGTrain
import Foundation
import XCTest
@testable import CAPGCheckpoint

/// Replays every fuzz target's committed inputs (`fuzz/corpus/<target>/` seeds and
/// `fuzz/regressions/<target>/`, where each crash scripts/fuzz.sh finds is committed once
/// fixed) through the library functions exactly as fuzz/targets/<target>.swift feeds them,
/// without sanitizers: each must be accepted or rejected with the module's typed error.
/// (Here because this test target links every module the five targets need.)
final class FuzzRegressionTests: XCTestCase {
    /// checkpoint: first byte even → decode as is, odd → reseal first.
    func testCheckpointInputs() throws {
        let inputs = FuzzInputs.files(target: "checkpoint")
        XCTAssertFalse(inputs.isEmpty, "no committed inputs under fuzz/")
        var decoded = 0
        for (name, data) in inputs where !data.isEmpty {
            var bytes = Array(data.dropFirst())
            if data[0] & 1 == 1 { bytes = CheckpointReseal.reseal(bytes) }
            do {
                _ = try CheckpointDecoder.decode(bytes)
                decoded += 1
            } catch {
                XCTAssertTrue(error is CheckpointError, "\(name): untyped error \(error)")
            }
        }
        XCTAssertGreaterThanOrEqual(decoded, 2, "the valid seeds (raw and resealed) decode")
    }

    /// scorer: the whole input is one ScorerReply; the seeds are the three reply kinds.
    func testScorerInputs() {
        let inputs = FuzzInputs.files(target: "scorer")
        XCTAssertFalse(inputs.isEmpty)
        XCTAssertEqual(inputs.filter { ScorerMessage.decodeReply($0.data) != nil }.count, inputs.filter { !$0.name.contains("regressions") }.count,
                       "every seed is a valid reply")
    }

    /// letor: first byte = options (see fuzz/targets/letor.swift); bit 4 picks the
    /// streaming reader on a temp file.
    func testLetorInputs() throws {
        let inputs = FuzzInputs.files(target: "letor")
        XCTAssertFalse(inputs.isEmpty)
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("capg-fuzz-replay-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        for (name, data) in inputs where !data.isEmpty {
            let b = Int(data[0])
            var options = LetorReadOptions(featureCount: 1 + (b & 7), maxLabel: b & 8 != 0 ? 4 : nil)
            let body = Array(data.dropFirst())
            do {
                if b & 16 == 0 {
                    _ = try LetorReader.parse(text: String(decoding: body, as: UTF8.self), name: "fuzz", options: options)
                } else {
                    options.chunkSize = 1 + (b >> 5); options.maxLineBytes = 256
                    try Data(body).write(to: URL(fileURLWithPath: path))
                    _ = try LetorReader.read(path: path, options: options)
                }
            } catch {
                XCTAssertTrue(error is LetorError, "\(name): untyped error \(error)")
            }
        }
    }

    /// obd: log CSV, NUL, item_context CSV.
    func testOBDInputs() {
        let inputs = FuzzInputs.files(target: "obd")
        XCTAssertFalse(inputs.isEmpty)
        for (name, data) in inputs {
            let cut = data.firstIndex(of: 0)
            let log = String(decoding: data[..<(cut ?? data.count)], as: UTF8.self)
            let items = cut.map { String(decoding: data[($0 + 1)...], as: UTF8.self) } ?? log
            do {
                _ = try OBDLoader.parse(logText: log, logName: "all.csv", itemContextText: items, itemContextName: "item_context.csv")
            } catch {
                XCTAssertTrue(error is OBDError, "\(name): untyped error \(error)")
            }
        }
    }

    /// config: first byte even → JSON, odd → key=value lines; then validate.
    func testConfigInputs() {
        let inputs = FuzzInputs.files(target: "config")
        XCTAssertFalse(inputs.isEmpty)
        for (name, data) in inputs where !data.isEmpty {
            var c = TrainingConfig()
            do {
                if data[0] & 1 == 0 {
                    try c.apply(json: Data(data.dropFirst()), source: "fuzz")
                } else {
                    try c.apply(overrides: String(decoding: data.dropFirst(), as: UTF8.self).split(separator: "\n").map(String.init))
                }
                try c.validate(ranks: 1 + Int(data[0] >> 6))
                _ = try? MemoryFootprint(config: c, ranks: 1, threads: 1)  // throws its own overflow error
            } catch {
                XCTAssertTrue(error is ConfigError, "\(name): untyped error \(error)")
            }
        }
    }
}

/// The committed inputs of a fuzz target: `fuzz/corpus/<target>/*` and
/// `fuzz/regressions/<target>/*` of the repository this test file lives in.
enum FuzzInputs {
    static func files(target: String, file: String = #filePath) -> [(name: String, data: [UInt8])] {
        let root = URL(fileURLWithPath: file).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        var out: [(String, [UInt8])] = []
        for dir in ["fuzz/corpus/\(target)", "fuzz/regressions/\(target)"] {
            let d = root.appendingPathComponent(dir)
            for n in ((try? FileManager.default.contentsOfDirectory(atPath: d.path)) ?? []).sorted() {
                if let data = FileManager.default.contents(atPath: d.appendingPathComponent(n).path) { out.append(("\(dir)/\(n)", [UInt8](data))) }
            }
        }
        return out
    }
}
