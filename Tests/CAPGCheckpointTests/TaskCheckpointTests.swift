import CAPGCore
import CAPGTrain
import Foundation
import XCTest
@testable import CAPGCheckpoint

/// Checkpoints of the non-synthetic tasks (LETOR linear/MLP, OBD), built from states of the
/// right layout without reading any data: the tensor manifest follows the config's own
/// tensor list, the LETOR feature standardization travels with the parameters, and a
/// crafted header asking for absurd sizes is refused before anything is allocated.
final class TaskCheckpointTests: XCTestCase {
    static func letorConfig(features: Int = 5, hidden: Int = 3) -> TrainingConfig {
        var c = TrainingConfig()
        c.data = .letor; c.trainFile = "train.txt"; c.testFile = "test.txt"
        c.features = features; c.hidden = hidden; c.k = 10; c.batchSize = 8; c.queries = 43
        return c
    }

    /// A state of the config's layout (parameter count and Adam buffers) with varied values.
    static func snapshot(_ c: TrainingConfig, step: Int = 7, data: [TrainerState.Buffer]? = nil) -> TrainingSnapshot {
        let n = c.parameterCount
        func values(_ n: Int, _ s: Float) -> [Float] { (0..<n).map { Float($0) * s - 1.5 } }
        let state = TrainerState(step: step, parameters: values(n, 0.01), optimizerKind: .adam, optimizerUpdates: step,
                                 optimizerBuffers: [.init(name: "adam.m", values: values(n, 0.002)),
                                                    .init(name: "adam.v", values: values(n, 0.0003))],
                                 runningBaseline: 0.25, replicasChecked: 0)
        let dataTensors = data ?? c.dataTensorShapes.enumerated().map { i, t in
            TrainerState.Buffer(name: t.name, values: values(t.shape[0], 0.1 * Float(i + 1)))
        }
        return TrainingSnapshot(config: c, ranks: 2, state: state, progress: RunProgress(), dataTensors: dataTensors)
    }

    /// LETOR (linear and MLP) and OBD snapshots round-trip bitwise, with the manifest the
    /// config implies; LETOR's standardization comes back as `data.*` tensors.
    func testTaskSnapshotsRoundTrip() throws {
        var obd = TrainingConfig()
        obd.data = .obd; obd.obdDir = "obd"; obd.items = 80; obd.contextDim = 24; obd.k = 5; obd.queries = 8000
        for c in [Self.letorConfig(hidden: 0), Self.letorConfig(hidden: 3), obd] {
            let snap = Self.snapshot(c)
            let bytes = try CheckpointEncoder(chunkBytes: 64).encode(snap)
            let d = try CheckpointDecoder.decode(bytes)
            XCTAssertEqual(d.snapshot, snap, c.modelDescription)
            XCTAssertEqual(d.tensors.map(\.name), CheckpointFormat.expectedTensors(config: c).map(\.name))
            XCTAssertNoThrow(try d.checkCompatible(with: c))
            let model = d.json["model"] as! [String: Any]
            XCTAssertEqual(model["data"] as? String, c.data.rawValue)
            XCTAssertEqual(model["parameter_count"] as? Int, c.parameterCount)
            XCTAssertEqual((d.json["data"] as! [String: Any])["query_count"] as? Int, c.queries)
        }
        let mlp = try CheckpointDecoder.decode(try CheckpointEncoder().encode(Self.snapshot(Self.letorConfig())))
        XCTAssertEqual(mlp.tensors.map(\.name), ["param.W1", "param.c1", "param.v", "param.b", "adam.m", "adam.v",
                                                 "data.feature_mean", "data.feature_inv_std"])
        XCTAssertEqual(mlp.tensors[0].shape, [3, 5])
        XCTAssertEqual(mlp.snapshot.dataTensors.map(\.name), ["feature_mean", "feature_inv_std"])
        let model = mlp.json["model"] as! [String: Any]
        XCTAssertEqual(model["esr"] as? String, "mlp")
        XCTAssertEqual((model["feature_mean"] as? [Double])?.count, 5)
    }

    /// A LETOR snapshot without its standardization is refused by the writer (the file could
    /// not be used), and a file with other data tensors than the config's is refused on read.
    func testLetorStandardizationIsRequired() throws {
        let c = Self.letorConfig()
        XCTAssertThrowsError(try CheckpointEncoder().encode(Self.snapshot(c, data: []))) { e in
            guard case .writeFailed? = e as? CheckpointError else { return XCTFail("\(e)") }
        }
        XCTAssertThrowsError(try CheckpointEncoder().encode(Self.snapshot(c, data: [.init(name: "feature_mean", values: [1, 2]),
                                                                                .init(name: "feature_inv_std", values: [1, 2])])))
        // Synthetic-layout tensors under a LETOR config: the manifest does not match.
        let snap = Self.snapshot(c)
        var tensors = try CheckpointEncoder.tensors(of: snap)
        tensors.removeLast()
        var bytes: [UInt8] = []
        _ = try CheckpointEncoder().encode(snap, tensors: tensors) { bytes.append(contentsOf: $0) }
        XCTAssertThrowsError(try CheckpointDecoder.decode(bytes)) { e in
            guard case .malformed(let m)? = e as? CheckpointError else { return XCTFail("\(e)") }
            XCTAssertTrue(m.contains("data.feature_inv_std"), m)
        }
    }

    /// Headers whose config asks for tensors that cannot fit in the file (or in an Int) are
    /// refused with a typed error before any allocation: a LETOR MLP of 2³¹−1 × 2³¹−1 (the
    /// byte count overflows), one of 4000 × 4000 (fits an Int, not the file), and a config
    /// beyond the dimension bound (refused by validation).
    func testCraftedSizesAreRefusedWithoutAllocation() throws {
        let small = Self.snapshot(Self.letorConfig())
        let tensors = try CheckpointEncoder.tensors(of: small)
        func crafted(_ edit: (inout TrainingConfig) -> Void) throws -> [UInt8] {
            var s = small
            edit(&s.config)
            var bytes: [UInt8] = []
            _ = try CheckpointEncoder().encode(s, tensors: tensors) { bytes.append(contentsOf: $0) }
            return bytes
        }
        let huge = try crafted { $0.features = Int(Int32.max); $0.hidden = Int(Int32.max) }
        XCTAssertThrowsError(try CheckpointDecoder.decode(huge)) { e in
            guard case .truncated(let m)? = e as? CheckpointError else { return XCTFail("\(e)") }
            XCTAssertTrue(m.contains("more bytes than fit in memory"), m)
        }
        let big = try crafted { $0.features = 4000; $0.hidden = 4000 }
        XCTAssertThrowsError(try CheckpointDecoder.decode(big)) { e in
            guard case .truncated(let m)? = e as? CheckpointError else { return XCTFail("\(e)") }
            XCTAssertTrue(m.contains("MLP ESR over 4000"), m)
        }
        let beyond = try crafted { $0.features = 1 << 40 }
        XCTAssertThrowsError(try CheckpointDecoder.decode(beyond)) { e in
            guard case .malformed(let m)? = e as? CheckpointError else { return XCTFail("\(e)") }
            XCTAssertTrue(m.contains("features must be ≤"), m)
        }
        var synthetic = TrainingConfig(); synthetic.items = 50_000_000; synthetic.dim = Int(Int32.max); synthetic.contextDim = Int(Int32.max)
        XCTAssertNil(CheckpointFormat.checkedByteCount(CheckpointFormat.expectedTensors(config: synthetic)))
    }

    /// The resume check of the standardization: equal within rounding passes; a changed
    /// training file (another mean) is refused with the feature named.
    func testDataTensorCheck() throws {
        let a: [TrainerState.Buffer] = [.init(name: "feature_mean", values: [1, 2, 3]), .init(name: "feature_inv_std", values: [0.5, 0, 2])]
        var b = a
        b[0].values[1] = 2.000001
        XCTAssertNoThrow(try DataTensorCheck.check(checkpoint: a, run: b))
        b[0].values[1] = 2.5
        XCTAssertThrowsError(try DataTensorCheck.check(checkpoint: a, run: b)) { e in
            XCTAssertTrue("\(e)".contains("data.feature_mean[1]"), "\(e)")
            XCTAssertTrue("\(e)".contains("training data changed"), "\(e)")
        }
        XCTAssertThrowsError(try DataTensorCheck.check(checkpoint: a, run: []))
    }
}
