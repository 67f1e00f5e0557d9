import CAPGCore
import CAPGTrain
import CCheckpointProto
import Foundation

/// One tensor to write: `count` floats of `values` from `offset`, with a logical shape, or
/// (`fetch` set) floats produced chunk by chunk in order (`StreamedTensor`).
struct TensorSource {
    var name: String
    var shape: [Int]
    var values: [Float]
    var offset: Int
    var count: Int
    var fetch: ((Int, Int) throws -> [Float])? = nil
}

/// Serializes a `TrainingSnapshot` into the checkpoint format (see `CheckpointFormat`),
/// streaming: the bytes are handed to a sink frame by frame, so memory stays at one chunk
/// beyond the snapshot itself. Packing is protobuf-c's generated `capg__v1__frame__pack`.
/// Cost: O(bytes), two CRC32C passes over the tensor data (chunk and frame checksums).
public struct CheckpointEncoder {
    /// Maximum tensor data bytes per chunk frame (a multiple of 4).
    public var chunkBytes: Int
    /// Creation time stamped into the header (milliseconds since the epoch).
    public var createdUnixMs: Int64
    /// The schema version written (tests write a newer one to check the reader refuses it).
    var schemaVersion = CheckpointFormat.schemaVersion

    public init(chunkBytes: Int = CheckpointFormat.defaultChunkBytes, createdUnixMs: Int64? = nil) {
        self.chunkBytes = max(4, chunkBytes / 4 * 4)
        self.createdUnixMs = createdUnixMs ?? Int64(Date().timeIntervalSince1970 * 1000)
    }

    /// The tensors of a snapshot in file order (`CheckpointFormat.expectedTensors`).
    static func tensors(of snapshot: TrainingSnapshot) throws -> [TensorSource] {
        let count = snapshot.config.parameterCount
        let state = snapshot.state
        guard state.parameters.count == count else {
            throw CheckpointError.tensorShapeMismatch(name: "parameters", expected: [count], found: [state.parameters.count])
        }
        var out = snapshot.config.parameterTensors.map { t in
            TensorSource(name: "param." + t.name, shape: t.shape, values: state.parameters, offset: t.offset,
                         count: t.shape.reduce(1, *))
        }
        for b in state.optimizerBuffers {
            out.append(TensorSource(name: b.name, shape: [b.values.count], values: b.values, offset: 0, count: b.values.count))
        }
        // Data tensors must be exactly the ones the config implies: a file without them
        // could not be used (nor read back: the reader checks the manifest against the config).
        let expected = snapshot.config.dataTensorShapes
        guard snapshot.dataTensors.map(\.name) == expected.map(\.name) else {
            throw CheckpointError.writeFailed(path: "(encoder)", reason: "data tensors \(snapshot.dataTensors.map(\.name)) do not match the config's \(expected.map(\.name)) (the task did not supply them)")
        }
        for (b, e) in zip(snapshot.dataTensors, expected) {
            guard [b.values.count] == e.shape else {
                throw CheckpointError.tensorShapeMismatch(name: "data." + b.name, expected: e.shape, found: [b.values.count])
            }
            out.append(TensorSource(name: "data." + b.name, shape: e.shape, values: b.values, offset: 0, count: b.values.count))
        }
        return out
    }

    /// The whole file as bytes.
    public func encode(_ snapshot: TrainingSnapshot) throws -> [UInt8] {
        var out = [UInt8]()
        _ = try encode(snapshot) { out.append(contentsOf: $0) }
        return out
    }

    /// Streams the file to `sink`; returns the number of bytes.
    @discardableResult
    public func encode(_ snapshot: TrainingSnapshot, to sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        try encode(snapshot, tensors: Self.tensors(of: snapshot), to: sink)
    }

    /// Streams a file whose tensors are produced piece by piece (`StreamedTensor`), checked
    /// against the config's tensor list like a snapshot's.
    @discardableResult
    public func encode(_ snapshot: TrainingSnapshot, streamed: [StreamedTensor],
                       to sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        let expected = CheckpointFormat.expectedTensors(config: snapshot.config)
        guard streamed.map(\.name) == expected.map(\.name) else {
            throw CheckpointError.writeFailed(path: "(encoder)", reason: "streamed tensors \(streamed.map(\.name)) do not match the config's \(expected.map(\.name))")
        }
        for (t, e) in zip(streamed, expected) where t.shape != e.shape {
            throw CheckpointError.tensorShapeMismatch(name: t.name, expected: e.shape, found: t.shape)
        }
        let sources = streamed.map { TensorSource(name: $0.name, shape: $0.shape, values: [], offset: 0, count: $0.count, fetch: $0.fetch) }
        return try encode(snapshot, tensors: sources, to: sink)
    }

    /// Streams a file whose tensors are given explicitly (tests use this to build files
    /// that disagree with their own header).
    func encode(_ snapshot: TrainingSnapshot, tensors: [TensorSource],
                to sink: (UnsafeRawBufferPointer) throws -> Void) throws -> Int {
        try withoutActuallyEscaping(sink) { sink in
            try encodeFrames(snapshot, tensors: tensors, writer: FrameWriter(sink: sink))
        }
    }

    private func encodeFrames(_ snapshot: TrainingSnapshot, tensors: [TensorSource], writer initial: FrameWriter) throws -> Int {
        var writer = initial
        try CheckpointFormat.magic.withUnsafeBytes { try writer.raw($0) }
        let chunkFloats = chunkBytes / 4
        try writeHeader(&writer, snapshot: snapshot, tensors: tensors)
        for (ti, t) in tensors.enumerated() {
            var start = 0, index = 0
            repeat {
                let n = min(chunkFloats, t.count - start)
                if let fetch = t.fetch {
                    let piece = try fetch(start, n)
                    guard piece.count == n else {
                        throw CheckpointError.writeFailed(path: "(encoder)", reason: "tensor \(t.name): \(piece.count) floats fetched at \(start), expected \(n)")
                    }
                    try piece.withUnsafeBytes { try writeChunk(&writer, tensor: ti, index: index, floatOffset: start, bytes: $0) }
                } else {
                    try t.values.withUnsafeBufferPointer { all in
                        try writeChunk(&writer, tensor: ti, index: index, floatOffset: start,
                                       bytes: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: all[(t.offset + start)..<(t.offset + start + n)])))
                    }
                }
                start += n; index += 1
            } while start < t.count
        }
        try writeTrailer(&writer, frames: writer.frames, payloadBytes: writer.payloadBytes, payloadCRC: writer.payloadCRC)
        return writer.totalBytes
    }

    /// The header frame of `snapshot` with the tensor manifest of `tensors`.
    func writeHeader(_ writer: inout FrameWriter, snapshot: TrainingSnapshot, tensors: [TensorSource]) throws {
        let arena = CArena()
        let header = arena.allocate(Capg__V1__Header.self, count: 1)
        capg__v1__header__init(header)
        try fillHeader(header, snapshot: snapshot, tensors: tensors, chunkFloats: chunkBytes / 4, arena: arena)
        var frame = Capg__V1__Frame()
        capg__v1__frame__init(&frame)
        frame.body_case = CAPG__V1__FRAME__BODY_HEADER
        frame.header = header
        try writer.frame(&frame)
    }

    /// The frame of chunk `index` of tensor `tensor`, whose data `bytes` start at float
    /// `floatOffset` of the tensor.
    func writeChunk(_ writer: inout FrameWriter, tensor: Int, index: Int, floatOffset: Int, bytes: UnsafeRawBufferPointer) throws {
        try Self.withChunkFrame(tensor: tensor, index: index, floatOffset: floatOffset, byteCount: bytes.count,
                                crc: CRC32C.checksum(bytes), data: bytes.baseAddress) { try writer.frame(&$0) }
    }

    /// Bytes of a chunk's frame (prefix included) from its size and data checksum alone,
    /// before any data is packed: how the ranks of a parallel write find their offsets.
    static func chunkFrameBytes(tensor: Int, index: Int, floatOffset: Int, byteCount: Int, crc: UInt32) -> Int {
        withChunkFrame(tensor: tensor, index: index, floatOffset: floatOffset, byteCount: byteCount, crc: crc, data: nil) {
            CheckpointFormat.framePrefixBytes + capg__v1__frame__get_packed_size(&$0)
        }
    }

    /// Calls `body` with the frame of one tensor chunk (valid during the call).
    private static func withChunkFrame<R>(tensor: Int, index: Int, floatOffset: Int, byteCount: Int, crc: UInt32,
                                          data: UnsafeRawPointer?, _ body: (inout Capg__V1__Frame) throws -> R) rethrows -> R {
        var chunk = Capg__V1__TensorChunk()
        capg__v1__tensor_chunk__init(&chunk)
        chunk.tensor_index = UInt32(tensor)
        chunk.chunk_index = UInt32(index)
        chunk.offset = UInt64(floatOffset * 4)
        chunk.data.len = byteCount
        chunk.data.data = UnsafeMutablePointer(mutating: data?.assumingMemoryBound(to: UInt8.self))
        chunk.crc32c = crc
        var frame = Capg__V1__Frame()
        capg__v1__frame__init(&frame)
        frame.body_case = CAPG__V1__FRAME__BODY_CHUNK
        return try withUnsafeMutablePointer(to: &chunk) { c in
            frame.chunk = c
            return try body(&frame)
        }
    }

    /// The trailer: the count of frames before it, their bytes and their CRC32C.
    func writeTrailer(_ writer: inout FrameWriter, frames: Int, payloadBytes: Int, payloadCRC: UInt32) throws {
        var trailer = Capg__V1__Trailer()
        capg__v1__trailer__init(&trailer)
        trailer.frame_count = UInt64(frames)
        trailer.payload_bytes = UInt64(payloadBytes)
        trailer.payload_crc32c = payloadCRC
        var tframe = Capg__V1__Frame()
        capg__v1__frame__init(&tframe)
        tframe.body_case = CAPG__V1__FRAME__BODY_TRAILER
        try withUnsafeMutablePointer(to: &trailer) { t in
            tframe.trailer = t
            try writer.frame(&tframe)
        }
    }

    /// Number of chunks of a tensor of `count` floats (an empty tensor still has one).
    static func chunkCount(_ count: Int, chunkFloats: Int) -> Int { max(1, (count + chunkFloats - 1) / chunkFloats) }

    private func fillHeader(_ h: UnsafeMutablePointer<Capg__V1__Header>, snapshot: TrainingSnapshot, tensors: [TensorSource],
                            chunkFloats: Int, arena: CArena) throws {
        let c = snapshot.config, st = snapshot.state, pr = snapshot.progress
        h.pointee.magic = arena.string(CheckpointFormat.headerMagic)
        h.pointee.schema_version = UInt32(schemaVersion)
        h.pointee.writer_version = arena.string(CheckpointFormat.writerVersion)
        h.pointee.created_unix_ms = createdUnixMs
        h.pointee.config_json = arena.string(c.canonicalJSON)
        h.pointee.config_hash = arena.string(c.trajectoryHash)
        h.pointee.step = UInt64(st.step)
        h.pointee.ranks = UInt32(snapshot.ranks)
        h.pointee.running_baseline = st.runningBaseline
        h.pointee.chunk_bytes = UInt64(chunkFloats * 4)

        let rng = arena.allocate(Capg__V1__RngState.self, count: 1)
        capg__v1__rng_state__init(rng)
        rng.pointee.generator = arena.string(CheckpointFormat.generator)
        rng.pointee.seed = c.seed
        rng.pointee.env_seed = c.envSeed
        rng.pointee.step = UInt64(st.step)
        h.pointee.rng = rng

        let data = arena.allocate(Capg__V1__DataPosition.self, count: 1)
        capg__v1__data_position__init(data)
        data.pointee.batch_size = UInt64(c.batchSize)
        data.pointee.query_count = UInt64(c.queries)
        data.pointee.queries_consumed = UInt64(st.step) &* UInt64(c.batchSize)
        // (step·B) mod Q without overflow: both factors are < Q ≤ 2³², so the product fits.
        let q = UInt64(c.queries)
        data.pointee.next_query_id = (UInt64(st.step) % q) * (UInt64(c.batchSize) % q) % q
        h.pointee.data = data

        let opt = arena.allocate(Capg__V1__OptimizerState.self, count: 1)
        capg__v1__optimizer_state__init(opt)
        opt.pointee.kind = arena.string(st.optimizerKind.rawValue)
        opt.pointee.updates = UInt64(st.optimizerUpdates)
        opt.pointee.learning_rate = c.lr
        h.pointee.optimizer = opt

        let m = arena.allocate(Capg__V1__Metrics.self, count: 1)
        capg__v1__metrics__init(m)
        m.pointee.compute_seconds = pr.computeSeconds
        m.pointee.allreduce_seconds = pr.allreduceSeconds
        m.pointee.optimizer_seconds = pr.optimizerSeconds
        m.pointee.io_seconds = pr.ioSeconds
        m.pointee.wall_seconds = pr.wallSeconds
        m.pointee.mean_reward_last = pr.meanRewardLast
        m.pointee.replica_checks_passed = UInt64(st.replicasChecked)
        m.pointee.segments = UInt32(pr.segments)
        if let e = pr.lastEvaluation {
            let ev = arena.allocate(Capg__V1__Evaluation.self, count: 1)
            capg__v1__evaluation__init(ev)
            ev.pointee.step = UInt64(pr.lastEvaluationStep)
            ev.pointee.value = e.value
            ev.pointee.normalized_value = e.normalizedValue
            ev.pointee.recall = e.recall
            m.pointee.last_evaluation = ev
        }
        h.pointee.metrics = m

        let infos = arena.allocate(UnsafeMutablePointer<Capg__V1__TensorInfo>?.self, count: tensors.count)
        for (i, t) in tensors.enumerated() {
            let info = arena.allocate(Capg__V1__TensorInfo.self, count: 1)
            capg__v1__tensor_info__init(info)
            info.pointee.name = arena.string(t.name)
            let shape = arena.allocate(UInt64.self, count: t.shape.count)
            for (k, v) in t.shape.enumerated() { shape[k] = UInt64(v) }
            info.pointee.n_shape = t.shape.count
            info.pointee.shape = shape
            info.pointee.dtype = CAPG__V1__DTYPE__DTYPE_FLOAT32
            info.pointee.byte_length = UInt64(t.count * 4)
            info.pointee.chunk_count = UInt32(Self.chunkCount(t.count, chunkFloats: chunkFloats))
            infos[i] = info
        }
        h.pointee.n_tensors = tensors.count
        h.pointee.tensors = infos
    }
}

/// Packs frames into a reusable buffer, prefixes length and CRC32C, forwards them to the
/// sink, and keeps the running payload checksum.
struct FrameWriter {
    let sink: (UnsafeRawBufferPointer) throws -> Void
    private var buffer = [UInt8]()
    private(set) var frames = 0
    private(set) var payloadBytes = 0
    private(set) var payloadCRC = CRC32C().value
    private(set) var totalBytes = 0

    init(sink: @escaping (UnsafeRawBufferPointer) throws -> Void) { self.sink = sink }

    mutating func raw(_ bytes: UnsafeRawBufferPointer) throws {
        try sink(bytes)
        totalBytes += bytes.count
    }

    mutating func frame(_ frame: inout Capg__V1__Frame) throws {
        let size = capg__v1__frame__get_packed_size(&frame)
        guard size <= CheckpointFormat.maxFrameBytes else {
            throw CheckpointError.writeFailed(path: "(encoder)", reason: "a frame of \(size) bytes exceeds the format's limit")
        }
        let total = CheckpointFormat.framePrefixBytes + size
        if buffer.count < total { buffer = [UInt8](repeating: 0, count: total) }
        let (prefixCRC, bodyCRC) = buffer.withUnsafeMutableBytes { b -> (UInt32, UInt32) in
            let body = b.baseAddress! + CheckpointFormat.framePrefixBytes
            let packed = capg__v1__frame__pack(&frame, body.assumingMemoryBound(to: UInt8.self))
            precondition(packed == size, "protobuf-c packed \(packed) bytes, expected \(size)")
            let crc = CRC32C.checksum(UnsafeRawBufferPointer(start: body, count: size))
            b.storeBytes(of: UInt32(size).littleEndian, toByteOffset: 0, as: UInt32.self)
            b.storeBytes(of: crc.littleEndian, toByteOffset: 4, as: UInt32.self)
            return (CRC32C.checksum(UnsafeRawBufferPointer(start: b.baseAddress!, count: 8)), crc)
        }
        try buffer.withUnsafeBytes { try sink(UnsafeRawBufferPointer(rebasing: $0[0..<total])) }
        if frame.body_case != CAPG__V1__FRAME__BODY_TRAILER {
            payloadCRC = CRC32C.combine(CRC32C.combine(payloadCRC, prefixCRC, lengthB: 8), bodyCRC, lengthB: size)
            payloadBytes += total
            frames += 1
        }
        totalBytes += total
    }
}
