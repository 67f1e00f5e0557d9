import CAPGCore
import CAPGParallel
import Foundation

/// Whole-model checkpoints of an item-sharded run without holding the model on one rank, in
/// the ordinary single-file format (verify, inspect and resume onto any grid work
/// unchanged). Only query group 0 takes part (its ranks 0..<S hold one copy of every
/// shard). By default its S ranks write their own pieces into the file in parallel
/// (`CheckpointWriter.write(_:parts:)`, CAPGCheckpoint); without a shared file system, or
/// with `CAPG_CHECKPOINT_WRITERS=1`, world rank 0 writes it alone, fetching every tensor
/// piece by piece from the rank that owns it while the file is written (memory on rank 0:
/// its own shard plus one piece).
///
/// Every tensor of the file has the flat layout of a part of `[W | E | b]` (the parameters
/// W, E, b, and each optimizer buffer, which is `[W | E | b]`-shaped). Its owner segments
/// (tensor range, owner shard, offset in the owner's local `[W | E_s | b_s]` buffer) follow
/// from the shard ranges; senders and rank 0 walk the same segments in the same order and cut
/// them into the same pieces of ≤ `pieceFloats` floats, so point-to-point messages match
/// one to one.
extension ShardedTrainer {
    /// False when `CAPG_CHECKPOINT_WRITERS=1`: rank 0 writes every checkpoint alone while the
    /// shard owners stream to it (for file systems that handle one writer per file better
    /// than several; also how the tests exercise that path). Read once per process.
    static let parallelWrites = ProcessInfo.processInfo.environment["CAPG_CHECKPOINT_WRITERS"] != "1"

    /// Floats per point-to-point piece (4 MiB).
    static let pieceFloats = 1 << 20

    typealias Segment = ShardedCheckpointParts.Segment

    /// The segments of the full `[W | E | b]` index range `[from, from + count)`.
    func segments(from: Int, count: Int) -> [Segment] {
        let d = config.dim, n = config.items, w = wCount
        var out: [Segment] = []
        func add(_ lo: Int, _ hi: Int, owner: Int, local: Int) {
            let a = max(lo, from), b = min(hi, from + count)
            if a < b { out.append(Segment(range: (a - from)..<(b - from), owner: owner, localOffset: local + (a - lo))) }
        }
        add(0, w, owner: 0, local: 0)
        for s in shard.all { add(w + s.lo * d, w + s.hi * d, owner: s.index, local: w) }
        for s in shard.all { add(w + n * d + s.lo, w + n * d + s.hi, owner: s.index, local: w + s.count * d) }
        return out
    }

    /// The file's tensors with their full-buffer offsets and local source buffers, in file
    /// order (`param.W`, `param.E`, `param.b`, then the optimizer's buffers).
    func checkpointTensors() -> [ShardedCheckpointParts.Tensor] {
        var out = config.parameterTensors.map { ShardedCheckpointParts.Tensor(name: "param." + $0.name, shape: $0.shape, offset: $0.offset, local: parameters) }
        for b in optimizer.stateBuffers { out.append(.init(name: b.name, shape: [fullShape.parameterCount], offset: 0, local: b.values)) }
        return out
    }

    /// The pieces of one segment: consecutive ranges of ≤ `pieceFloats` floats.
    static func pieces(_ range: Range<Int>) -> [Range<Int>] {
        stride(from: range.lowerBound, to: range.upperBound, by: pieceFloats).map { $0..<min($0 + pieceFloats, range.upperBound) }
    }

    /// World rank 0: floats `[start, start + count)` of tensor `t` (full-buffer offset
    /// `t.offset`), its own part copied, the others' received from their owners.
    func fetch(_ t: ShardedCheckpointParts.Tensor, start: Int, count: Int) -> [Float] {
        var out = [Float]()
        out.reserveCapacity(count)
        for seg in segments(from: t.offset + start, count: count) {
            if seg.owner == 0 {
                out += t.local[(seg.localOffset)..<(seg.localOffset + seg.range.count)]
            } else {
                for p in Self.pieces(seg.range) { out += grid.world.receive(count: p.count, from: seg.owner) }
            }
        }
        return out
    }

    /// Query group 0's other ranks: send this shard's part of every chunk of `tensors`, in the
    /// order world rank 0 fetches them (tensor by tensor, chunk by chunk).
    func serve(_ tensors: [ShardedCheckpointParts.Tensor]) {
        for t in tensors {
            let total = t.shape.reduce(1, *)
            var start = 0
            repeat {
                let count = min(CheckpointChunking.floats, total - start)
                for seg in segments(from: t.offset + start, count: count) where seg.owner == shard.index {
                    for p in Self.pieces(seg.range) {
                        let from = seg.localOffset + (p.lowerBound - seg.range.lowerBound)
                        grid.world.send(Array(t.local[from..<(from + p.count)]), to: 0)
                    }
                }
                start += count
            } while start < total
        }
    }

    /// Query group 0's S ranks write the checkpoint in parallel when each has a sink and
    /// they share a file system (`CheckpointSink.write(_:parts:)`); otherwise rank 0 writes it
    /// while the others stream their pieces to it. Collective over the world.
    public func writeCheckpoint(_ sink: (any CheckpointSink)?, snapshot: (TrainerState) -> TrainingSnapshot) throws
        -> CheckpointWriteReport?
    {
        let tensors = checkpointTensors()
        // Scalars only: every rank writes or streams its own tensors.
        let state = TrainerState(step: step, parameters: [], optimizerKind: optimizer.kind, optimizerUpdates: optimizer.updates,
                                 optimizerBuffers: [], runningBaseline: runningBaseline, replicasChecked: replicasChecked)
        // [some writer of group 0 has no sink, rank 0 has none (no checkpoint at all)]
        var sinkMissing = [grid.group == 0 && (sink == nil || !Self.parallelWrites) ? 1.0 : 0.0,
                           grid.world.isRoot && sink == nil ? 1.0 : 0.0]
        grid.world.allreduceMax(&sinkMissing)
        if grid.group != 0 || sinkMissing[1] != 0 { return nil }
        if sinkMissing[0] == 0, let sink {
            let parts = ShardedCheckpointParts(tensors: tensors, owners: grid.items) { self.segments(from: $0, count: $1) }
            let result = try sink.write(snapshot(state), parts: parts)
            if result.written { return result.report }
        }
        if grid.world.isRoot {
            guard let sink else { return nil }
            let streamed = tensors.map { t in
                StreamedTensor(name: t.name, shape: t.shape) { start, count in self.fetch(t, start: start, count: count) }
            }
            return try sink.write(snapshot(state), streamed: streamed)
        }
        serve(tensors)
        return nil
    }

    /// SHA-256 of the flat `[W | E | b]` parameter bytes on world rank 0, hashed as the
    /// shards stream in (memory: one chunk); "" elsewhere.
    public func parameterFingerprint() -> String {
        let tensors = Array(checkpointTensors().prefix(config.parameterTensors.count))
        if grid.world.isRoot {
            var sha = SHA256()
            for t in tensors {
                let total = t.shape.reduce(1, *)
                var start = 0
                repeat {
                    let count = min(CheckpointChunking.floats, total - start)
                    sha.update(floats: fetch(t, start: start, count: count))
                    start += count
                } while start < total
            }
            return sha.finalizeHex()
        }
        if grid.group == 0 { serve(tensors) }
        return ""
    }
}

/// The chunk size the checkpoint writer asks streamed tensors for (its default chunk bytes
/// / 4): the senders of a sharded checkpoint cut their segments at the same boundaries.
/// 4 MiB; `CAPG_CHECKPOINT_CHUNK_BYTES` (a positive multiple of 4, read once per process)
/// sets another size, so tests can make small files with many chunks — every rank of a job
/// must see the same value, as `mpirun` passes the environment to all.
public enum CheckpointChunking {
    public static let floats: Int = {
        if let text = ProcessInfo.processInfo.environment["CAPG_CHECKPOINT_CHUNK_BYTES"], let n = Int(text), n >= 4, n % 4 == 0 {
            return n / 4
        }
        return (4 << 20) / 4
    }()
}
