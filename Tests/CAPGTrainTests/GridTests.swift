import CAPGCore
import CAPGParallel
@testable import CAPGTrain
import Foundation
import XCTest

/// Item-sharded training on a real `mpirun` grid: np = 1 (data-parallel) vs np = 2 (S = 2)
/// vs np = 4 (Q = 2 query groups × S = 2 item shards, oversubscribed) give identical
/// rewards step by step and policy values within 1e-9, for every estimator the grid supports;
/// sharded resume is bitwise at the same grid and continues correctly on another grid.
final class GridTests: XCTestCase {
    let common = ["train", "--items", "300", "--k", "10", "--batch-size", "8", "--eval-every", "10",
                  "--check-every", "1", "--set", "eval_queries=30", "--quiet"]

    func grid(_ np: Int) -> [String] { np == 1 ? [] : ["--set", "item_shards=2"] }

    /// metrics.jsonl rows by step.
    func rows(_ dir: String) throws -> [Int: [String: Any]] {
        let text = try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8)
        var out: [Int: [String: Any]] = [:]
        for line in text.split(separator: "\n") {
            let o = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            out[o["step"] as! Int] = o
        }
        return out
    }

    /// Same mean reward at every step both logged, and the same policy value (1e-9) at every
    /// step both evaluated.
    func assertSameTrajectory(_ a: String, _ b: String, _ what: String) throws {
        let ra = try rows(a), rb = try rows(b)
        XCTAssertEqual(Set(ra.keys), Set(rb.keys), what)
        var values = 0
        for (step, x) in ra {
            guard let y = rb[step] else { continue }
            XCTAssertEqual(x["mean_reward"] as? Double, y["mean_reward"] as? Double, "\(what): reward at step \(step)")
            if let vx = x["value"] as? Double, let vy = y["value"] as? Double {
                XCTAssertEqual(vx, vy, accuracy: 1e-9, "\(what): value at step \(step)")
                values += 1
            }
        }
        XCTAssertGreaterThan(values, 0, what)
    }

    func testShardedTrajectoryEqualsSingleProcess() throws {
        for estimator in ["capg", "vpg", "topk", "distill"] {
            var dirs: [Int: String] = [:]
            for np in [1, 2, 4] {
                let dir = tempDir()
                dirs[np] = dir
                let r = try mpirun(np, common + grid(np) + ["--estimator", estimator, "--samples", "2", "--steps", "20",
                                                            "--run-dir", dir])
                XCTAssertEqual(r.code, 0, "\(estimator) np=\(np): \(r.err)")
                let s = try summary(dir)
                XCTAssertEqual(s["item_shards"] as? Int, np == 1 ? 1 : 2)
                XCTAssertEqual(s["query_groups"] as? Int, np == 4 ? 2 : 1)
                XCTAssertEqual(s["replica_checks_passed"] as? Int, 20, "\(estimator) np=\(np): replicas checked every step")
                if np > 1 { XCTAssertGreaterThan(s["comm_bytes_per_step"] as? Int ?? 0, 0) }
            }
            defer { for d in dirs.values { try? FileManager.default.removeItem(atPath: d) } }
            try assertSameTrajectory(dirs[1]!, dirs[2]!, "\(estimator) np=2 (S=2) vs np=1")
            try assertSameTrajectory(dirs[1]!, dirs[4]!, "\(estimator) np=4 (Q=2, S=2) vs np=1")
        }
    }

    /// query_chunk only changes how many queries are scored at once (and so the order in
    /// which the ∂E GEMMs accumulate: the trajectory, not the bits, is the same).
    func testQueryChunksGiveTheSameTrajectory() throws {
        var dirs: [String] = []
        defer { for d in dirs { try? FileManager.default.removeItem(atPath: d) } }
        for chunk in ["0", "1", "3"] {
            let dir = tempDir()
            dirs.append(dir)
            let r = try mpirun(2, common + grid(2) + ["--steps", "10", "--set", "query_chunk=\(chunk)", "--run-dir", dir])
            XCTAssertEqual(r.code, 0, r.err)
        }
        try assertSameTrajectory(dirs[0], dirs[1], "query_chunk 1")
        try assertSameTrajectory(dirs[0], dirs[2], "query_chunk 3")
    }

    /// Checkpoints cut into 1000-byte chunks, so the streamed write and the streamed resume
    /// split W, the shard boundary and the optimizer buffers' W | E | b boundaries inside
    /// chunks and pieces.
    let smallChunks = ["CAPG_CHECKPOINT_CHUNK_BYTES": "1000"]

    func testShardedResumeIsBitwiseAndMovesAcrossGrids() throws {
        let full = tempDir(), half = tempDir()
        defer { for d in [full, half] { try? FileManager.default.removeItem(atPath: d) } }
        func mpirun(_ np: Int, _ args: [String]) throws -> MPIOutcome { try self.mpirun(np, args, environment: smallChunks) }
        XCTAssertEqual(try mpirun(2, common + grid(2) + ["--steps", "30", "--run-dir", full]).code, 0)
        let first = try mpirun(2, common + grid(2) + ["--steps", "15", "--run-dir", half])
        XCTAssertEqual(first.code, 0, first.err)
        var copies: [Int: String] = [:]
        for np in [1, 4] {
            let d = tempDir()
            try FileManager.default.copyItem(atPath: half, toPath: d)
            copies[np] = d
        }
        defer { for d in copies.values { try? FileManager.default.removeItem(atPath: d) } }
        let same = try mpirun(2, common + grid(2) + ["--steps", "30", "--run-dir", half, "--resume", "auto"])
        XCTAssertEqual(same.code, 0, same.err)
        XCTAssertEqual(try summary(half)["param_fingerprint"] as? String, try summary(full)["param_fingerprint"] as? String,
                       "resume on the same grid must be bitwise")
        // The streamed checkpoint holds the parameters the streamed fingerprint hashed.
        let inspect = try mpirun(1, ["checkpoint", "inspect", full + "/checkpoints", "--json"])
        XCTAssertEqual(inspect.code, 0, inspect.err)
        let header = try JSONSerialization.jsonObject(with: Data(inspect.out.utf8)) as? [String: Any]
        XCTAssertEqual(header?["param_fingerprint"] as? String, try summary(full)["param_fingerprint"] as? String)
        for (np, d) in copies {
            let r = try mpirun(np, common + grid(np) + ["--steps", "30", "--run-dir", d, "--resume", "auto"])
            XCTAssertEqual(r.code, 0, "np=\(np): \(r.err)")
            XCTAssertEqual(try summary(d)["resumed_from_step"] as? Int, 15)
            try assertSameTrajectory(full, d, "resumed on np=\(np)")
        }
        // Rank 0 writing alone (the shard owners streaming to it) gives the same tensors as
        // the parallel write, and its checkpoints resume bitwise.
        let alone = tempDir()
        defer { try? FileManager.default.removeItem(atPath: alone) }
        var env = smallChunks
        env["CAPG_CHECKPOINT_WRITERS"] = "1"
        XCTAssertEqual(try self.mpirun(2, common + grid(2) + ["--steps", "15", "--run-dir", alone], environment: env).code, 0)
        for d in [half, alone] {
            let v = try mpirun(1, ["checkpoint", "verify", d + "/checkpoints/ckpt-0000000015.capgckpt"])
            XCTAssertEqual(v.code, 0, v.err)
        }
        let fingerprints = try [half, alone].map { d -> String? in
            let r = try mpirun(1, ["checkpoint", "inspect", d + "/checkpoints/ckpt-0000000015.capgckpt", "--json"])
            return (try JSONSerialization.jsonObject(with: Data(r.out.utf8)) as? [String: Any])?["param_fingerprint"] as? String
        }
        XCTAssertNotNil(fingerprints[0])
        XCTAssertEqual(fingerprints[0], fingerprints[1], "parallel and single-writer checkpoints hold the same parameters")
        let resumedAlone = try self.mpirun(2, common + grid(2) + ["--steps", "30", "--run-dir", alone, "--resume", "auto"], environment: env)
        XCTAssertEqual(resumedAlone.code, 0, resumedAlone.err)
        XCTAssertEqual(try summary(alone)["param_fingerprint"] as? String, try summary(full)["param_fingerprint"] as? String)
        // A data-parallel checkpoint streams onto a grid too (the file format is one).
        let single = tempDir()
        defer { try? FileManager.default.removeItem(atPath: single) }
        XCTAssertEqual(try mpirun(1, common + ["--steps", "15", "--run-dir", single]).code, 0)
        let onGrid = try mpirun(2, common + grid(2) + ["--steps", "30", "--run-dir", single, "--resume", "auto"])
        XCTAssertEqual(onGrid.code, 0, onGrid.err)
        try assertSameTrajectory(full, single, "np=1 checkpoint resumed on np=2 (S=2)")
    }

    /// Chunk rules: a training chunk's 24·c·N/S bytes and an evaluation chunk's 12·e·N/S bytes
    /// stay within 256 MiB (at least one query), and the memory estimate counts the evaluation
    /// chunk the trainer will use (a fixed 64-query evaluation chunk held 3.8 GB per rank at
    /// N/S = 5·10⁶ while the estimate counted 1.3 GB).
    func testChunkRulesStayWithinTheBudgetTheEstimateCounts() throws {
        let budget = 256 << 20
        for ns in [1_000, 500_000, 5_000_000, 50_000_000] {
            let e = ShardedTrainer.evaluationChunk(shardItems: ns)
            XCTAssertTrue(e == 1 || 12 * e * ns <= budget, "N/S = \(ns): \(e) evaluation queries")
            XCTAssertLessThanOrEqual(e, 64)
            var c = TrainingConfig()
            c.items = 2 * ns; c.itemShards = 2
            let q = ShardedTrainer.queryChunk(config: c, shardItems: ns, localQueries: 256)
            XCTAssertTrue(q == 1 || 24 * q * ns <= budget, "N/S = \(ns): \(q) training queries")
        }
        XCTAssertEqual(ShardedTrainer.evaluationChunk(shardItems: 1_000), 64)
        XCTAssertEqual(ShardedTrainer.evaluationChunk(shardItems: 5_000_000), 4)
        var c = TrainingConfig()
        c.items = 10_000_000; c.dim = 64; c.itemShards = 2; c.batchSize = 16
        let f = try MemoryFootprint(config: c, ranks: 2, threads: 1)
        let eval = try XCTUnwrap(f.terms.first { $0.name == "evaluation chunk" })
        XCTAssertEqual(eval.bytes, 12 * 4 * 5_000_000)
    }

    /// The shard's initial parameters, drawn by random access, are the matching slices of the
    /// single-process initialization (bitwise).
    func testShardInitializationIsASliceOfTheFullOne() throws {
        let shape = TwoTowerShape(items: 37, embeddingDim: 5, contextDim: 3)
        let full = TwoTowerESR(shape: shape).initialParameters(seed: 7, initScale: 0.3)
        for s in 0..<3 {
            let shard = try ItemShard(itemCount: 37, shardCount: 3, index: s)
            let local = ShardedTrainer.initialParameters(shape: shape, shard: shard, seed: 7, initScale: 0.3)
            let w = shape.wCount, d = 5
            XCTAssertEqual(Array(local[0..<w]), Array(full[0..<w]))
            XCTAssertEqual(Array(local[w..<(w + shard.count * d)]), Array(full[(w + shard.lo * d)..<(w + shard.hi * d)]))
            XCTAssertTrue(local[(w + shard.count * d)...].allSatisfy { $0 == 0 })
        }
    }

    /// Bad grids are usage errors naming the fix.
    func testInvalidGridsAreRejected() throws {
        let dir = tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let odd = try mpirun(2, common + ["--set", "item_shards=3", "--steps", "2", "--run-dir", dir])
        XCTAssertEqual(odd.code, 64)
        XCTAssertTrue(odd.rankSaid("item_shards (3) must divide the number of ranks (2)"), odd.err)
        let exact = try mpirun(2, common + grid(2) + ["--inclusion", "exact", "--steps", "2", "--run-dir", dir])
        XCTAssertEqual(exact.code, 64)
        XCTAssertTrue(exact.rankSaid("use --inclusion threshold"), exact.err)
    }
}
