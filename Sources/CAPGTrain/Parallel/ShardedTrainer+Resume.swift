import CAPGParallel
import Foundation

/// Resume of an item-sharded run without any rank holding the whole model: the reverse of
/// the streamed checkpoint write (`+Checkpoint.swift`). World rank 0 walks the verified file
/// chunk by chunk and sends every piece of every tensor straight to the query-group-0 rank
/// that owns it (W, which every shard holds, to each of them), keeping its own pieces; the
/// other ranks of group 0 walk the same chunks and segments and receive exactly their
/// pieces; then each shard's group-0 rank sends its whole local state to the shard's other
/// Q − 1 replicas. The file may come from any grid (or a data-parallel run): it holds the
/// full `[W | E | b]`-shaped tensors, and the segments re-slice them for this grid.
///
/// Memory: rank 0 holds one mapped chunk at a time besides its own shard; every rank
/// O(N/S · d). Traffic: the file's bytes once out of rank 0 (plus W to every shard), then
/// (Q − 1) copies of each shard's state inside its replica set.
extension ShardedTrainer {
    public func restore(_ state: TrainerState, streamed: CheckpointTensorStream) throws {
        // Names, sizes and offsets only: the tuples' `local` arrays would keep the old state alive.
        let tensors = checkpointTensors().map { (name: $0.name, count: $0.shape.reduce(1, *), offset: $0.offset) }
        let bufferNames = optimizer.stateBuffers.map(\.name)
        // Destination of tensor t: the parameters (-1) or optimizer buffer k (k ≥ 0), which all
        // have the local `[W | E_s | b_s]` layout.
        let destination = tensors.map { t in bufferNames.firstIndex(of: t.name) ?? -1 }
        // The fresh state this trainer was built with is replaced whole: free it first, so
        // the resume does not hold two copies of the shard (if the resume fails, the run
        // ends with its error).
        parameters = []
        optimizer = config.optimizer.make(parameterCount: 0, learningRate: config.lr)
        var local = (0...bufferNames.count).map { _ in [Float](repeating: 0, count: localCount) }
        let world = grid.world

        if grid.group == 0 {
            if world.isRoot {
                guard let forEachChunk = streamed.forEachChunk else {
                    throw TrainingError.incompatibleState("world rank 0 has no checkpoint to stream from")
                }
                try forEachChunk { ti, start, values in
                    guard ti < tensors.count else { throw TrainingError.incompatibleState("the checkpoint has more tensors than the run") }
                    let t = tensors[ti]
                    for seg in segments(from: t.offset + start, count: values.count) {
                        // W lies before every shard's rows: each shard holds a copy.
                        let owners = t.offset + start + seg.range.lowerBound < wCount ? Array(0..<grid.itemShards) : [seg.owner]
                        for owner in owners {
                            if owner == 0 {
                                local[destination[ti] + 1].withUnsafeMutableBufferPointer { dst in
                                    for (k, i) in seg.range.enumerated() { dst[seg.localOffset + k] = values[i] }
                                }
                            } else {
                                for p in Self.pieces(seg.range) { world.send(Array(values[p]), to: owner) }
                            }
                        }
                    }
                }
            } else {
                for (ti, t) in tensors.enumerated() {
                    let total = t.count
                    var start = 0
                    repeat {
                        let count = min(streamed.chunkFloats, total - start)
                        for seg in segments(from: t.offset + start, count: count) {
                            let isW = t.offset + start + seg.range.lowerBound < wCount
                            guard isW || seg.owner == shard.index else { continue }
                            for p in Self.pieces(seg.range) {
                                let values = world.receive(count: p.count, from: 0)
                                let at = seg.localOffset + (p.lowerBound - seg.range.lowerBound)
                                local[destination[ti] + 1].replaceSubrange(at..<(at + p.count), with: values)
                            }
                        }
                        start += count
                    } while start < total
                }
            }
        }
        // The shard's other replicas get group 0's copy (world rank of (q, s) is q·S + s).
        if grid.queryGroups > 1 {
            for k in local.indices {
                for p in Self.pieces(0..<local[k].count) {
                    if grid.group == 0 {
                        for q in 1..<grid.queryGroups { world.send(Array(local[k][p]), to: q * grid.itemShards + shard.index) }
                    } else {
                        local[k].replaceSubrange(p, with: world.receive(count: p.count, from: shard.index))
                    }
                }
            }
        }
        var buffers: [String: [Float]] = [:]
        for (k, name) in bufferNames.enumerated() { buffers[name] = local[k + 1] }
        try adopt(state, parameters: local[0], optimizerBuffers: buffers)
    }
}
