import CAPGCore
import CAPGTrain
import CCheckpointProto
import Foundation

/// Parses and verifies a whole checkpoint (see `CheckpointFormat`) before returning
/// anything: magic, every frame's CRC32C, the frame order, the header's consistency with
/// its own config (including its `config_hash`), every chunk's position and CRC32C, the
/// trailer's frame count and payload checksum, the absence of trailing bytes, and that every
/// tensor value is finite (`FiniteTensorCheck`: what a CRC cannot see). Any failure is a `CheckpointError`; the
/// result is all or nothing. Messages are unpacked by protobuf-c's generated
/// `capg__v1__frame__unpack`, which validates the wire format. O(bytes).
public enum CheckpointDecoder {
    public static func decode(_ bytes: [UInt8]) throws -> DecodedCheckpoint {
        try bytes.withUnsafeBytes { try decode($0) }
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer) throws -> DecodedCheckpoint {
        // Chunks are copied straight into their final arrays: the parameter tensors into the
        // flat parameter buffer at their offsets, optimizer buffers and data tensors into
        // arrays of their own. Float has no invalid bit patterns and every byte is
        // overwritten before the arrays are returned (`walk` checks each tensor is tiled
        // exactly), so they start uninitialized.
        func uninitialized(_ n: Int) -> [Float] { [Float](unsafeUninitializedCapacity: n) { _, c in c = n } }
        var parameters: [Float] = []
        var buffers: [[Float]] = []
        let walked = try walk(bytes, header: { meta in
            parameters = uninitialized(meta.config.parameterCount)
            buffers = meta.tensorPlan.map { $0.parameterOffset == nil ? uninitialized($0.bytes / 4) : [] }
        }, chunk: { meta, ti, offset, data in
            func copy(_ dst: UnsafeMutableRawBufferPointer, at byteOffset: Int) {
                (dst.baseAddress! + byteOffset).copyMemory(from: data.baseAddress!, byteCount: data.count)
            }
            if let p = meta.tensorPlan[ti].parameterOffset {
                parameters.withUnsafeMutableBytes { copy($0, at: p * 4 + offset) }
            } else {
                buffers[ti].withUnsafeMutableBytes { copy($0, at: offset) }
            }
        })
        let meta = walked.meta
        // The manifest matched the config's expected tensors, so the parameter tensors tile
        // the flat buffer exactly.
        let optimizerBuffers = meta.tensors.indices.compactMap { i in
            meta.tensorPlan[i].parameterOffset == nil && !meta.tensorPlan[i].isData
                ? TrainerState.Buffer(name: meta.tensors[i].name, values: buffers[i]) : nil
        }
        let dataTensors = meta.tensors.indices.compactMap { i in
            meta.tensorPlan[i].isData ? TrainerState.Buffer(name: String(meta.tensors[i].name.dropFirst(5)), values: buffers[i]) : nil
        }
        let snapshot = TrainingSnapshot(config: meta.config, ranks: meta.ranks, state: meta.state(parameters: parameters, optimizerBuffers: optimizerBuffers),
                                        progress: meta.progress, dataTensors: dataTensors)
        try FiniteTensorCheck.check(snapshot)
        return walked.decoded(snapshot: snapshot, fileBytes: bytes.count)
    }

    /// What `walk` saw besides the tensor data.
    struct Walked {
        var meta: HeaderFields
        var frames: Int
        var payloadCRC: UInt32

        func decoded(snapshot: TrainingSnapshot, fileBytes: Int) -> DecodedCheckpoint {
            DecodedCheckpoint(
                snapshot: snapshot,
                schemaVersion: meta.schemaVersion, writerVersion: meta.writerVersion, createdUnixMs: meta.createdUnixMs,
                configHash: meta.configHash, tensors: meta.tensors, chunkBytes: meta.chunkBytes, frames: frames,
                fileBytes: fileBytes, payloadCRC32C: payloadCRC)
        }
    }

    /// Checks a whole checkpoint frame by frame and hands each chunk's data to `chunk` as
    /// soon as that chunk has passed its checks: `header` gets the checked header first, then
    /// `chunk(meta, tensor index, byte offset in the tensor, data)` runs for every chunk in
    /// file order (data is non-empty, a multiple of 4 bytes, and valid only during the
    /// call); `consumed(end)` after each chunk frame with the byte offset the walk reached
    /// (a mapped file's reader releases the pages behind it). Everything `decode` checks but the finiteness of the values is checked here;
    /// the payload checksum and the trailer only at the end, so a caller that acts on
    /// chunks before `walk` returns must be ready to undo them (the item-sharded resume
    /// walks a file once to verify it and a second time to distribute it). O(bytes); memory
    /// O(one frame).
    static func walk(_ bytes: UnsafeRawBufferPointer, header: (HeaderFields) throws -> Void,
                     chunk: (HeaderFields, Int, Int, UnsafeRawBufferPointer) throws -> Void,
                     consumed: (Int) -> Void = { _ in }) throws -> Walked {
        var reader = FrameReader(bytes: bytes)
        let meta = try reader.header(fileBytes: bytes.count)
        try header(meta)

        for (ti, t) in meta.tensors.enumerated() {
            var offset = 0
            for ci in 0..<t.chunks {
                let f = try reader.next()
                defer { capg__v1__frame__free_unpacked(f.frame, nil) }
                guard f.frame.pointee.body_case == CAPG__V1__FRAME__BODY_CHUNK, let c = f.frame.pointee.chunk else {
                    throw CheckpointError.malformed("frame \(f.index) (byte \(f.offset)) should be chunk \(ci) of tensor \(t.name)")
                }
                let chunkFrame = c.pointee
                guard chunkFrame.tensor_index == UInt32(ti), chunkFrame.chunk_index == UInt32(ci) else {
                    throw CheckpointError.malformed("chunks out of order: frame \(f.index) holds chunk \(chunkFrame.chunk_index) of tensor \(chunkFrame.tensor_index), expected chunk \(ci) of tensor \(ti) (\(t.name))")
                }
                let len = chunkFrame.data.len
                // Every chunk but a tensor's last is full (as the writer cuts them), so any
                // reader can tell a chunk's place from the chunk size alone.
                guard chunkFrame.offset == UInt64(offset), len % 4 == 0, len == min(meta.chunkBytes, t.bytes - offset),
                      len == 0 || chunkFrame.data.data != nil else {
                    throw CheckpointError.malformed("chunk \(ci) of tensor \(t.name): offset \(chunkFrame.offset), \(len) bytes do not tile a tensor of \(t.bytes) bytes in chunks of \(meta.chunkBytes)")
                }
                let data = UnsafeRawBufferPointer(start: chunkFrame.data.data, count: len)
                let crc = CRC32C.checksum(data)
                guard crc == chunkFrame.crc32c else {
                    throw CheckpointError.checksumMismatch(what: "chunk \(ci) of tensor \(t.name)", stored: chunkFrame.crc32c, computed: crc)
                }
                if len > 0 { try chunk(meta, ti, offset, data) }
                // (`data` is protobuf-c's copy, not the caller's bytes: report the position.)
                consumed(reader.offset)
                offset += len
            }
            guard offset == t.bytes else {
                throw CheckpointError.malformed("tensor \(t.name): \(t.chunks) chunk(s) hold \(offset) bytes, the header says \(t.bytes)")
            }
        }

        // Trailer.
        let payloadEnd = reader.offset
        let payloadCRC = reader.payloadCRC
        let framesBefore = reader.frames
        if reader.atEnd {
            throw CheckpointError.truncated("the file ends after the last chunk, before the trailer")
        }
        let t = try reader.next()
        defer { capg__v1__frame__free_unpacked(t.frame, nil) }
        guard t.frame.pointee.body_case == CAPG__V1__FRAME__BODY_TRAILER, let tr = t.frame.pointee.trailer else {
            throw CheckpointError.malformed("frame \(t.index) (byte \(t.offset)) should be the trailer")
        }
        guard tr.pointee.frame_count == UInt64(framesBefore),
              tr.pointee.payload_bytes == UInt64(payloadEnd - CheckpointFormat.magic.count) else {
            throw CheckpointError.malformed("the trailer counts \(tr.pointee.frame_count) frames and \(tr.pointee.payload_bytes) payload bytes, the file has \(framesBefore) and \(payloadEnd - CheckpointFormat.magic.count)")
        }
        guard tr.pointee.payload_crc32c == payloadCRC else {
            throw CheckpointError.checksumMismatch(what: "the payload", stored: tr.pointee.payload_crc32c, computed: payloadCRC)
        }
        if !reader.atEnd { throw CheckpointError.trailingData(bytes: bytes.count - reader.offset) }
        return Walked(meta: meta, frames: framesBefore, payloadCRC: payloadCRC)
    }

    /// The checked header of a checkpoint whose first bytes (magic and header frame, as
    /// `headerPrefixLength` measures them) are `prefix` and whose whole file is `fileBytes`
    /// long: how the ranks of an item-sharded resume learn the state's scalars without the
    /// tensors. O(header).
    static func header(prefix: UnsafeRawBufferPointer, fileBytes: Int) throws -> HeaderFields {
        var reader = FrameReader(bytes: prefix)
        return try reader.header(fileBytes: fileBytes)
    }

    /// Bytes of the magic and the header frame at the start of a checkpoint (whose frames
    /// were checked by a `walk`).
    static func headerPrefixLength(_ bytes: UnsafeRawBufferPointer) -> Int {
        let m = CheckpointFormat.magic.count
        return m + CheckpointFormat.framePrefixBytes + Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: m, as: UInt32.self)))
    }
}

/// Walks the frames of a checkpoint, checking each prefix and CRC32C before unpacking it.
struct FrameReader {
    let bytes: UnsafeRawBufferPointer
    private(set) var offset = 0
    private(set) var frames = 0
    /// CRC32C of bytes [magic end, offset).
    private(set) var payloadCRC: UInt32 = 0

    init(bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var atEnd: Bool { offset == bytes.count }

    mutating func checkMagic() throws {
        let magic = CheckpointFormat.magic
        if bytes.isEmpty { throw CheckpointError.notACheckpoint("the file is empty") }
        let head = Array(bytes.prefix(magic.count))
        if head.count < magic.count {
            if head == Array(magic.prefix(head.count)) {
                throw CheckpointError.truncated("the file ends inside the 8-byte magic (\(head.count) bytes)")
            }
            throw CheckpointError.notACheckpoint("\(bytes.count) byte(s) that do not start with the capg magic")
        }
        if head != magic {
            if head.prefix(7) == magic.prefix(7) {
                throw CheckpointError.wrongMagic(found: "\"" + String(decoding: head.map { $0 >= 32 && $0 < 127 ? $0 : 63 }, as: UTF8.self) + "\"")
            }
            let shown = head.map { String(format: "%02x", $0) }.joined(separator: " ")
            throw CheckpointError.notACheckpoint("it starts with bytes \(shown), not \"CAPGCKP1\"")
        }
        offset = magic.count
    }

    /// The magic and the header frame, checked (`fileBytes`: the whole file's size).
    mutating func header(fileBytes: Int) throws -> HeaderFields {
        try checkMagic()
        let first = try next()
        defer { capg__v1__frame__free_unpacked(first.frame, nil) }
        guard first.frame.pointee.body_case == CAPG__V1__FRAME__BODY_HEADER, let h = first.frame.pointee.header else {
            throw CheckpointError.malformed("the first frame is not the header")
        }
        return try HeaderFields(h, fileBytes: fileBytes)
    }

    /// The next frame, unpacked (the caller frees it with `capg__v1__frame__free_unpacked`).
    mutating func next() throws -> (frame: UnsafeMutablePointer<Capg__V1__Frame>, index: Int, offset: Int) {
        let start = offset, index = frames
        let left = bytes.count - offset
        guard left >= CheckpointFormat.framePrefixBytes else {
            throw CheckpointError.truncated("frame \(index) at byte \(start) needs an 8-byte prefix, \(left) byte(s) left")
        }
        let length = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
        let stored = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self))
        guard length <= CheckpointFormat.maxFrameBytes else {
            throw CheckpointError.malformed("frame \(index) at byte \(start) claims \(length) bytes, above the \(CheckpointFormat.maxFrameBytes)-byte limit (a corrupted length)")
        }
        guard length <= left - CheckpointFormat.framePrefixBytes else {
            throw CheckpointError.truncated("frame \(index) at byte \(start) needs \(length) bytes, \(left - CheckpointFormat.framePrefixBytes) left (or its length is corrupted)")
        }
        let body = UnsafeRawBufferPointer(rebasing: bytes[(offset + 8)..<(offset + 8 + length)])
        let computed = CRC32C.checksum(body)
        guard computed == stored else {
            throw CheckpointError.checksumMismatch(what: "frame \(index) (byte \(start), \(length) bytes)", stored: stored, computed: computed)
        }
        guard let frame = capg__v1__frame__unpack(nil, length, body.baseAddress?.assumingMemoryBound(to: UInt8.self)) else {
            throw CheckpointError.malformed("frame \(index) (byte \(start)) is not a valid capg.v1.Frame message")
        }
        let prefixCRC = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + 8)]))
        payloadCRC = CRC32C.combine(CRC32C.combine(payloadCRC, prefixCRC, lengthB: 8), computed, lengthB: length)
        offset += 8 + length
        frames += 1
        return (frame, index, start)
    }
}
