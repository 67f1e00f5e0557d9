import CAPGCore
import CAPGData
import Foundation
import XCTest

final class LetorReaderTests: XCTestCase {
    var tempDir: URL!

    override func setUpWithError() throws {
        tempDir = FileManager.default.temporaryDirectory.appendingPathComponent("capg-letor-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: tempDir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: tempDir) }

    func write(_ text: String, name: String = "q.txt") throws -> String {
        let url = tempDir.appendingPathComponent(name)
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    /// Reads `text` from a file with a tiny chunk size, so lines straddle chunk boundaries.
    func read(_ text: String, features: Int = 4, rank: Int = 0, size: Int = 1, maxLabel: Double? = nil,
              chunk: Int = 7) throws -> (LetorDataset, LetorReadStatistics, String) {
        let path = try write(text)
        var o = LetorReadOptions(featureCount: features, rank: rank, size: size, maxLabel: maxLabel)
        o.chunkSize = chunk
        let (d, s) = try LetorReader.read(path: path, options: o)
        return (d, s, path)
    }

    /// Asserts reading fails with a message that starts with `FILE:LINE:` and contains `fragment`.
    func assertError(_ text: String, line: Int, contains fragment: String, features: Int = 4, maxLabel: Double? = nil,
                     file: StaticString = #filePath, at: UInt = #line) throws {
        let path = try write(text, name: "bad.txt")
        do {
            for chunk in [5, 1 << 20] {
                var o = LetorReadOptions(featureCount: features, maxLabel: maxLabel)
                o.chunkSize = chunk
                _ = try LetorReader.read(path: path, options: o)
                XCTFail("expected an error for line \(line)", file: file, line: at)
            }
        } catch let e as LetorError {
            let m = e.description
            XCTAssertTrue(m.hasPrefix("\(path):\(line):"), "message '\(m)' does not start with \(path):\(line):", file: file, line: at)
            XCTAssertTrue(m.contains(fragment), "message '\(m)' does not mention '\(fragment)'", file: file, line: at)
        }
    }

    static let sample = """
    # a header comment
    2 qid:10 1:0.5 3:-1.25 # doc A
    0 qid:10 2:3e-2 4:7

    1 qid:7 1:1 2:2 3:3 4:4\r
    \t
    4 qid:abc 4:1E2 1:-0.0
    """

    func testValidFileGivesExactQueriesLabelsAndFeatures() throws {
        let (d, s, _) = try read(Self.sample)
        XCTAssertEqual(d.featureCount, 4)
        XCTAssertEqual(d.qids, ["10", "7", "abc"])
        XCTAssertEqual(d.queryOrdinals, [0, 1, 2])
        XCTAssertEqual(d.documentOffsets, [0, 2, 3, 4])
        XCTAssertEqual(d.labels, [2, 0, 1, 4])
        XCTAssertEqual(d.features, [0.5, 0, -1.25, 0,
                                    0, 0.03, 0, 7,
                                    1, 2, 3, 4,
                                    -0.0, 0, 0, 100])
        XCTAssertEqual(s.lines, 7)
        XCTAssertEqual(s.documents, 4)
        XCTAssertEqual(s.queries, 3)
        XCTAssertEqual(s.maxLabel, 4)
        XCTAssertEqual(d.labels(of: 0), [2, 0])
        d.withFeatures(of: 1) { XCTAssertEqual(Array($0), [1, 2, 3, 4]) }
        // The in-memory parser gives the same result.
        let (d2, _) = try LetorReader.parse(text: Self.sample, name: "mem", options: LetorReadOptions(featureCount: 4))
        XCTAssertEqual(d, d2)
    }

    func testNumbersMatchStrtod() throws {
        let values = ["0.1", "-25.845600", "1e-7", "123456789012345678901234", "3.4028234e38", "0.000000000000000000000000000001", "+2", "1.", ".5", "9007199254740993"]
        let text = values.enumerated().map { "0 qid:1 1:\($0.element)" }.joined(separator: "\n")
        let (d, _) = try LetorReader.parse(text: text, name: "n", options: LetorReadOptions(featureCount: 1))
        for (i, v) in values.enumerated() { XCTAssertEqual(d.features[i], Float(strtod(v, nil)), v) }
    }

    func testEveryErrorNamesFileAndLine() throws {
        try assertError("1 qid:1 1:1\nx qid:1 1:1\n", line: 2, contains: "label 'x' is not a non-negative number")
        try assertError("1 qid:1 1:1\n-1 qid:1 1:1\n", line: 2, contains: "label -1 is negative")
        try assertError("1 qid:1 1:1\nnan qid:1 1:1\n", line: 2, contains: "label 'nan'")
        try assertError("5 qid:1 1:1\n", line: 1, contains: "label 5 is above the declared maximum 4; raise it with --max-label 5", maxLabel: 4)
        try assertError("4.5 qid:1 1:1\n", line: 1, contains: "label 4.5 is above the declared maximum 4", maxLabel: 4)
        try assertError("\n\n1 1:1\n", line: 3, contains: "expected 'qid:<id>' after the label")
        try assertError("1\n", line: 1, contains: "found end of line")
        try assertError("1 qid:1 1:1\n1 qid:1 1:1 2\n", line: 2, contains: "token '2' is not 'id:value'")
        try assertError("1 qid:1 a:1\n", line: 1, contains: "feature token 'a:1'")
        try assertError("1 qid:1 0:1\n", line: 1, contains: "feature token '0:1'")
        try assertError("1 qid:1 5:1\n", line: 1, contains: "feature id 5 is outside 1...4")
        try assertError("1 qid:1 137:1\n", line: 1, contains: "feature id 137 is outside 1...136", features: 136)
        try assertError("1 qid:1 2:1 3:1 2:5\n", line: 1, contains: "feature id 2 appears twice")
        try assertError("1 qid:1 2:abc\n", line: 1, contains: "value 'abc' of feature 2 is not a number")
        try assertError("1 qid:1 2:\n", line: 1, contains: "value '' of feature 2")
        try assertError("# c\n1 qid:1 2:nan\n", line: 2, contains: "value 'nan' of feature 2 is not finite")
        try assertError("1 qid:1 2:inf\n", line: 1, contains: "not finite")
        try assertError("1 qid:1 2:1e39\n", line: 1, contains: "not finite")
        try assertError("1 qid:1 1:1\n0 qid:2 1:1\n1 qid:1 1:2\n", line: 3,
                        contains: "qid 1 reappears after qid 2, but its documents already started at line 1")
    }

    func testEmptyFileAndEmptyShard() throws {
        let path = try write("# only a comment\n\n   \n")
        XCTAssertThrowsError(try LetorReader.read(path: path, options: LetorReadOptions(featureCount: 4))) {
            XCTAssertEqual($0 as? LetorError, .emptyFile(file: path))
            XCTAssertTrue("\($0)".contains("no document lines"))
        }
        let two = try write("1 qid:1 1:1\n1 qid:2 1:1\n", name: "two.txt")
        XCTAssertThrowsError(try LetorReader.read(path: two, options: LetorReadOptions(featureCount: 4, rank: 2, size: 3))) {
            XCTAssertTrue("\($0)".contains("rank 2 of 3 owns no query (the file has 2 queries"), "\($0)")
        }
        var o = LetorReadOptions(featureCount: 4, rank: 2, size: 3)
        o.allowEmptyShard = true
        XCTAssertEqual(try LetorReader.read(path: two, options: o).dataset.queryCount, 0)
        XCTAssertThrowsError(try LetorReader.read(path: tempDir.appendingPathComponent("missing").path,
                                                  options: LetorReadOptions(featureCount: 4))) {
            XCTAssertTrue("\($0)".contains("cannot open"))
        }
        XCTAssertThrowsError(try LetorReader.read(path: two, options: LetorReadOptions(featureCount: 4, rank: 3, size: 3)))
    }

    /// Shards over 1, 2, 3 ranks partition the queries exactly (ordinal q → rank q % size),
    /// with the same rows as the unsharded read.
    func testShardingPartitionsQueries() throws {
        var lines: [String] = []
        for q in 0..<7 {
            for d in 0...(q % 3) { lines.append("\((q + d) % 5) qid:\(100 + q) 1:\(q) 3:\(d)") }
        }
        let text = lines.joined(separator: "\n")
        let (all, _, _) = try read(text)
        XCTAssertEqual(all.queryCount, 7)
        for size in 1...3 {
            var seen: [Int] = []
            for rank in 0..<size {
                for validate in [true, false] {
                    let path = try write(text, name: "s.txt")
                    var o = LetorReadOptions(featureCount: 4, rank: rank, size: size)
                    o.validateForeignQueries = validate
                    let (d, s) = try LetorReader.read(path: path, options: o)
                    XCTAssertEqual(s.queries, 7)
                    XCTAssertTrue(d.queryOrdinals.allSatisfy { $0 % size == rank })
                    for (i, q) in d.queryOrdinals.enumerated() {
                        XCTAssertEqual(d.qids[i], all.qids[q])
                        XCTAssertEqual(Array(d.labels(of: i)), Array(all.labels(of: q)))
                        d.withFeatures(of: i) { a in all.withFeatures(of: q) { b in XCTAssertEqual(Array(a), Array(b)) } }
                    }
                    if validate { seen += d.queryOrdinals }
                }
            }
            XCTAssertEqual(seen.sorted(), Array(0..<7), "size \(size)")
        }
    }

    /// An error in another rank's query is still reported when validating (the default).
    func testErrorsInForeignQueriesAreReported() throws {
        let path = try write("1 qid:1 1:1\n1 qid:2 1:nan\n")
        XCTAssertThrowsError(try LetorReader.read(path: path, options: LetorReadOptions(featureCount: 4, rank: 0, size: 2))) {
            XCTAssertTrue("\($0)".hasPrefix("\(path):2:"))
        }
        var o = LetorReadOptions(featureCount: 4, rank: 0, size: 2)
        o.validateForeignQueries = false
        XCTAssertEqual(try LetorReader.read(path: path, options: o).dataset.queryCount, 1)
    }

    func testLongLinesGrowTheBuffer() throws {
        let row = (1...300).map { "\($0):\(Double($0) / 8)" }.joined(separator: " ")
        let (d, _, _) = try read("3 qid:1 \(row)\n1 qid:1 \(row)", features: 300, chunk: 64)
        XCTAssertEqual(d.documentCount, 2)
        XCTAssertEqual(d.features[299], 37.5)
        XCTAssertEqual(d.features[300 + 7], 1)
    }

    /// Real-valued labels (ratings, click rates) are read as they are, up to the maximum.
    func testRealValuedLabels() throws {
        let (d, s, _) = try read("1.5 qid:1 1:1\n0.25 qid:1 1:2\n4 qid:2 1:3\n", maxLabel: 4)
        XCTAssertEqual(d.labels, [1.5, 0.25, 4])
        XCTAssertEqual(s.maxLabel, 4)
        let (e, _, _) = try read("7.5 qid:1 1:1\n", maxLabel: 10)
        XCTAssertEqual(e.labels, [7.5])
    }

    /// A line longer than `maxLineBytes` fails with FILE:LINE at once, whether it is a
    /// complete line or an endless one (/dev/zero never ends and has no newline: it used to
    /// grow the line buffer until memory ran out).
    func testOverlongLinesAreRefusedWithFileAndLine() throws {
        let row = (1...300).map { "\($0):\(Double($0) / 8)" }.joined(separator: " ")
        let path = try write("3 qid:1 1:1\n1 qid:1 \(row)\n0 qid:2 1:0\n")
        for chunk in [64, 4 << 20] {
            var o = LetorReadOptions(featureCount: 300)
            o.chunkSize = chunk; o.maxLineBytes = 1000
            XCTAssertThrowsError(try LetorReader.read(path: path, options: o)) { e in
                XCTAssertEqual(e as? LetorError, .lineTooLong(file: path, line: 2, limit: 1000))
                XCTAssertTrue("\(e)".hasPrefix("\(path):2: line longer than 1000 bytes"), "\(e)")
            }
        }
        XCTAssertThrowsError(try LetorReader.read(path: "/dev/zero", options: LetorReadOptions(featureCount: 136))) { e in
            XCTAssertEqual(e as? LetorError, .lineTooLong(file: "/dev/zero", line: 1, limit: 1 << 20))
        }
        XCTAssertThrowsError(try LetorReader.parse(text: String(repeating: "1", count: 2000), name: "mem",
                                                   options: { var o = LetorReadOptions(featureCount: 1); o.maxLineBytes = 1000; return o }()))
    }
}
