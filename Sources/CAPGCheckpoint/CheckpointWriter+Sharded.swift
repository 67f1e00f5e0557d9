import CAPGTrain
import Foundation

/// The parallel write of an item-sharded checkpoint: the S ranks that hold one copy of the
/// model write their own pieces into the one checkpoint file at the same time, so writing
/// scales with S on a parallel file system instead of being bound by rank 0's bandwidth, and
/// the file is byte for byte the one a single writer would produce (same format, tools and
/// resume).
///
/// Why it can be done without any rank holding the model: the file is a sequence of frames
/// whose sizes depend only on each chunk's length and CRC32C, and the payload checksum is
/// assembled from per-frame checksums (`CRC32C.combine`). So
/// 1. rank 0 creates the temp file and the others open it by name (if any cannot — no shared
///    file system — nothing is written and the caller streams to rank 0 instead);
/// 2. each chunk belongs to the shard owning its first float; the few chunks that straddle
///    a shard boundary are completed by point-to-point messages from the neighbours;
/// 3. each rank checksums its chunks and sizes its frames; one sum-reduce of the run sizes
///    (`ShardedFileLayout`: a run is consecutive chunks with one owner) gives every rank the
///    file offset of each of its runs;
/// 4. each rank packs and `pwrite`s its frames, fsyncs, and the runs' CRC32Cs are sum-reduced;
/// 5. rank 0 writes the magic, header and trailer (payload CRC combined from the runs' in
///    file order), fsyncs, renames the temp file over the checkpoint's name and syncs the
///    directory — the single commit point, as for a single writer — then `latest` and pruning.
/// A failure on any rank is agreed on (max-reduce) before the rename, so a checkpoint is
/// committed whole or not at all. Memory per rank: its shard plus one frame and the
/// boundary chunks it completes; traffic: the boundary pieces and two vectors of one number
/// per run (O(S·T) for T tensors).
extension CheckpointWriter {
    public func write(_ snapshot: TrainingSnapshot, parts: ShardedCheckpointParts) throws -> (written: Bool, report: CheckpointWriteReport?) {
        let comm = parts.owners, me = comm.rank
        let start = Date()
        let step = snapshot.state.step
        let name = CheckpointFormat.fileName(step: step)

        // 1. The temp file, opened by every writer.
        var tempBytes: [UInt8] = []
        var fd: Int32 = -1
        if comm.isRoot {
            let temp = directory + "/." + name + ".tmp-\(getpid())"
            fd = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            if fd >= 0 { tempBytes = Array(temp.utf8) }
        }
        comm.broadcast(&tempBytes, root: 0)
        let temp = String(decoding: tempBytes, as: UTF8.self)
        if !comm.isRoot && !tempBytes.isEmpty { fd = open(temp, O_WRONLY | O_CLOEXEC) }
        var missing = [fd >= 0 ? 0.0 : 1.0]
        comm.allreduceMax(&missing)
        if missing[0] != 0 {
            if fd >= 0 { close(fd) }
            if comm.isRoot && !tempBytes.isEmpty { unlink(temp) }
            return (false, nil)
        }

        var failure: Error?
        var layout = ShardedFileLayout(parts: parts, chunkFloats: encoder.chunkBytes / 4, rank: me)
        var headerBytes: [UInt8] = []
        var headerCRC: UInt32 = 0
        var runCRCs: [Double] = []
        var allSizes: [Double] = []
        // Collectives run on every rank whatever fails locally (a skipped one would pair
        // with the next): failures are remembered and agreed on afterwards.
        if comm.isRoot {
            do {
                var w = FrameWriter { headerBytes.append(contentsOf: $0) }
                try CheckpointFormat.magic.withUnsafeBytes { try w.raw($0) }
                try encoder.writeHeader(&w, snapshot: snapshot, tensors: layout.headerTensors)
                headerCRC = w.payloadCRC
            } catch {
                failure = error
            }
        }
        // 2. Boundary chunks completed on their owners (in chunk order).
        layout.completeBoundaryChunks(comm)
        // 3. Frame sizes, then every run's offset.
        let sizes = layout.runSizes()
        var headerLength = [Double(headerBytes.count)]
        comm.allreduceMax(&headerLength)
        allSizes = sizes
        comm.allreduceSum(&allSizes)
        // 4. This rank's runs.
        if failure == nil {
            do {
                runCRCs = try layout.writeRuns(encoder: encoder, fd: fd, path: temp, headerLength: Int(headerLength[0]), allSizes: allSizes)
                try POSIXFile.sync(fd, path: temp)
            } catch {
                failure = error
            }
        }
        // Every rank's outcome, and every run's checksum, before anything is committed.
        var failed = [failure == nil ? 0.0 : 1.0]
        comm.allreduceMax(&failed)
        var allCRCs = runCRCs
        if failed[0] == 0 { comm.allreduceSum(&allCRCs) }
        var report: CheckpointWriteReport?
        if comm.isRoot && failed[0] == 0 {
            do {
                let bytes = try layout.finish(encoder: encoder, fd: fd, path: temp, header: headerBytes, headerCRC: headerCRC, runCRCs: allCRCs,
                                            allSizes: allSizes)
                try POSIXFile.sync(fd, path: temp)
                close(fd); fd = -1
                try POSIXFile.rename(temp, directory + "/" + name)
                try POSIXFile.syncDirectory(directory)
                try pointLatest(to: name, step: step)
                report = CheckpointWriteReport(path: directory + "/" + name, bytes: bytes, seconds: Date().timeIntervalSince(start))
            } catch {
                failure = error
            }
        }
        if fd >= 0 { close(fd) }
        var committed = [report != nil || !comm.isRoot ? 0.0 : 1.0]
        comm.allreduceMax(&committed)
        if comm.isRoot && committed[0] != 0 { unlink(temp) }
        if let failure { throw failure }
        if failed[0] != 0 || committed[0] != 0 {
            throw CheckpointError.writeFailed(path: temp, reason: "another rank of the parallel checkpoint write failed (its message names the cause); nothing was committed")
        }
        return (true, report)
    }
}

/// Which frames of a sharded checkpoint one writer produces, where they go, and the data
/// they hold. Chunk k of tensor t covers floats `[k·c, min((k+1)·c, n_t))` of the tensor
/// (c = chunk floats) and belongs to the shard owning its first float. A *run* is a maximal
/// sequence of consecutive chunks (in file order) with one owner: ownership alternates
/// inside a tensor (an optimizer buffer is `[W | E_0 … E_{S−1} | b_0 … b_{S−1}]`), so a shard
/// writes a few runs per tensor. Every rank knows every chunk's owner, hence the run list;
/// sizes and checksums are known to the owner only and are sum-reduced (zeros elsewhere).
struct ShardedFileLayout {
    struct Chunk {
        var tensor: Int
        var index: Int
        var start: Int
        var count: Int
        var owner: Int
        /// Whether other shards hold part of it.
        var straddles: Bool
    }

    let parts: ShardedCheckpointParts
    let chunkFloats: Int
    let rank: Int
    var chunks: [Chunk] = []
    /// Runs in file order: owner and chunk indices.
    var runs: [(owner: Int, chunks: Range<Int>)] = []
    /// Data of the straddling chunks this rank owns, completed from the neighbours.
    var completed: [Int: [Float]] = [:]
    /// CRC32C of the data of this rank's chunks (by chunk index).
    var dataCRCs: [Int: UInt32] = [:]

    init(parts: ShardedCheckpointParts, chunkFloats: Int, rank: Int) {
        self.parts = parts; self.chunkFloats = chunkFloats; self.rank = rank
        for (ti, t) in parts.tensors.enumerated() {
            var start = 0, index = 0
            repeat {
                let n = min(chunkFloats, t.count - start)
                let segs = parts.segments(t.offset + start, n)
                let owner = segs.first?.owner ?? 0
                chunks.append(Chunk(tensor: ti, index: index, start: start, count: n, owner: owner,
                                    straddles: segs.contains { $0.owner != owner }))
                start += n; index += 1
            } while start < t.count
        }
        for (k, c) in chunks.enumerated() {
            if let last = runs.last, last.owner == c.owner { runs[runs.count - 1].chunks = last.chunks.lowerBound..<(k + 1) }
            else { runs.append((c.owner, k..<(k + 1))) }
        }
    }

    /// The manifest for the header (names, shapes and sizes; no data).
    var headerTensors: [TensorSource] {
        parts.tensors.map { TensorSource(name: $0.name, shape: $0.shape, values: [], offset: 0, count: $0.count) }
    }

    /// Collective over the owners, in chunk order: each straddling chunk's pieces go to its
    /// owner, which assembles the chunk.
    mutating func completeBoundaryChunks(_ comm: any Communicator) {
        for (k, c) in chunks.enumerated() where c.straddles {
            let t = parts.tensors[c.tensor]
            let segs = parts.segments(t.offset + c.start, c.count)
            if c.owner == rank {
                var data = [Float]()
                data.reserveCapacity(c.count)
                for seg in segs {
                    if seg.owner == rank {
                        data += t.local[seg.localOffset..<(seg.localOffset + seg.range.count)]
                    } else {
                        data += comm.receive(count: seg.range.count, from: seg.owner)
                    }
                }
                completed[k] = data
            } else {
                for seg in segs where seg.owner == rank {
                    comm.send(Array(t.local[seg.localOffset..<(seg.localOffset + seg.range.count)]), to: c.owner)
                }
            }
        }
    }

    /// Calls `body` with the bytes of chunk k, which this rank owns.
    func withData<R>(_ k: Int, _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        if let data = completed[k] { return try data.withUnsafeBytes(body) }
        let c = chunks[k], t = parts.tensors[c.tensor]
        guard c.count > 0 else { return try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        let local = parts.segments(t.offset + c.start, c.count)[0].localOffset
        return try t.local.withUnsafeBufferPointer { try body(UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: $0[local..<(local + c.count)]))) }
    }

    /// Bytes of every run (this rank's filled in, 0 for the others'; exact in a Double),
    /// after checksumming its chunks' data (kept for the frames).
    mutating func runSizes() -> [Double] {
        var sizes = [Double](repeating: 0, count: runs.count)
        for (r, run) in runs.enumerated() where run.owner == rank {
            for k in run.chunks {
                let c = chunks[k]
                let crc = withData(k) { CRC32C.checksum($0) }
                dataCRCs[k] = crc
                sizes[r] += Double(CheckpointEncoder.chunkFrameBytes(tensor: c.tensor, index: c.index, floatOffset: c.start,
                                                                     byteCount: c.count * 4, crc: crc))
            }
        }
        return sizes
    }

    /// File offset of run r: the header and every earlier run.
    func runOffset(_ r: Int, headerLength: Int, allSizes: [Double]) -> Int {
        headerLength + allSizes[0..<r].reduce(0) { $0 + Int($1) }
    }

    /// Packs and writes this rank's runs; returns every run's CRC32C (its own filled in).
    func writeRuns(encoder: CheckpointEncoder, fd: Int32, path: String, headerLength: Int, allSizes: [Double]) throws -> [Double] {
        var crcs = [Double](repeating: 0, count: runs.count)
        for (r, run) in runs.enumerated() where run.owner == rank {
            var offset = runOffset(r, headerLength: headerLength, allSizes: allSizes)
            var w = FrameWriter { bytes in
                try POSIXFile.writeAll(fd, bytes, at: offset, path: path)
                offset += bytes.count
            }
            for k in run.chunks {
                let c = chunks[k]
                try withData(k) { try encoder.writeChunk(&w, tensor: c.tensor, index: c.index, floatOffset: c.start, bytes: $0) }
            }
            guard w.payloadBytes == Int(allSizes[r]) else {
                throw CheckpointError.writeFailed(path: path, reason: "run \(r) (tensor \(parts.tensors[chunks[run.chunks.lowerBound].tensor].name)): \(w.payloadBytes) bytes packed, \(Int(allSizes[r])) planned")
            }
            crcs[r] = Double(w.payloadCRC)
        }
        return crcs
    }

    /// Rank 0: the magic and header at the start, the trailer at the end (the payload CRC
    /// combined from the header's and every run's, in file order). Returns the file's size.
    func finish(encoder: CheckpointEncoder, fd: Int32, path: String, header: [UInt8], headerCRC: UInt32, runCRCs: [Double],
                allSizes: [Double]) throws -> Int {
        try header.withUnsafeBytes { try POSIXFile.writeAll(fd, $0, at: 0, path: path) }
        var crc = headerCRC
        var end = header.count
        for r in runs.indices {
            crc = CRC32C.combine(crc, UInt32(runCRCs[r]), lengthB: Int(allSizes[r]))
            end += Int(allSizes[r])
        }
        var w = FrameWriter { bytes in
            try POSIXFile.writeAll(fd, bytes, at: end, path: path)
            end += bytes.count
        }
        try encoder.writeTrailer(&w, frames: 1 + chunks.count, payloadBytes: end - CheckpointFormat.magic.count, payloadCRC: crc)
        return end
    }
}
