import Foundation
import XCTest

/// The committed protobuf-c code is exactly what scripts/generate-proto.sh makes of the schema.
final class CheckpointProtoTests: XCTestCase {
    func testGeneratedCodeMatchesSchemas() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let which = Process()
        which.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        which.arguments = ["sh", "-c", "command -v protoc-c"]
        which.standardOutput = Pipe()
        try which.run(); which.waitUntilExit()
        if which.terminationStatus != 0 {
            throw XCTSkip("protoc-c is not installed (apt-get install protobuf-c-compiler); cannot check the generated code")
        }
        let out = FileManager.default.temporaryDirectory.appendingPathComponent("capg-proto-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        let p = Process()
        p.executableURL = root.appendingPathComponent("scripts/generate-proto.sh")
        // Both outputs into the temporary directory (never over the committed files).
        p.arguments = [out.appendingPathComponent("checkpoint").path, out.appendingPathComponent("scorer").path]
        p.standardOutput = Pipe()
        try p.run(); p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        for (target, sub, file) in [("CCheckpointProto", "checkpoint", "checkpoint.pb-c.c"),
                                    ("CCheckpointProto", "checkpoint", "include/capg/v1/checkpoint.pb-c.h"),
                                    ("CScorerProto", "scorer", "scorer.pb-c.c"),
                                    ("CScorerProto", "scorer", "include/capg/v1/scorer.pb-c.h")] {
            let committed = try Data(contentsOf: root.appendingPathComponent("Sources/\(target)/" + file))
            let fresh = try Data(contentsOf: out.appendingPathComponent(sub).appendingPathComponent(file))
            XCTAssertEqual(committed, fresh, "\(file) differs from the schema: run scripts/generate-proto.sh and commit the result")
        }
    }
}
