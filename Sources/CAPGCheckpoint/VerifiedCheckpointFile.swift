import CAPGTrain
import Foundation

/// A checkpoint file checked in full — every check of `CheckpointDecoder.decode`, finiteness
/// of every value included — without reading it into memory: the file is mapped and walked
/// chunk by chunk, its pages dropped behind the walk, so a checkpoint larger than any rank's
/// memory can be verified, inspected and streamed to the ranks that own its pieces. The
/// `checkpoint`'s snapshot carries the scalars only (its tensors are empty); `forEachChunk`
/// walks the file again for the tensors. O(bytes) time, O(one chunk) memory.
public final class VerifiedCheckpointFile {
    public let path: String
    /// Header, manifest and checksums; `snapshot.state` has no tensors.
    public let checkpoint: DecodedCheckpoint
    /// Seconds the verification took (mapping and walking).
    public let verifySeconds: Double
    /// The magic and the header frame: all another rank needs to know the state's scalars.
    public let headerPrefix: [UInt8]
    let file: MappedFile
    let meta: HeaderFields

    /// Maps and verifies `path` (a checkpoint file, a `latest` pointer or a directory, as
    /// `CheckpointReader.resolve`); throws the first problem found as a `CheckpointError`.
    public init(path: String) throws {
        let resolved = try CheckpointReader.resolve(path)
        let t0 = Date()
        let file = try MappedFile(path: resolved)
        let bytes = file.bytes
        let walked = try CheckpointDecoder.walk(bytes, header: { _ in }, chunk: { meta, ti, offset, data in
            try FiniteTensorCheck.check(chunk: data, tensor: meta.tensors[ti].name, floatOffset: offset / 4)
        }, consumed: file.release(upTo:))
        let meta = walked.meta
        try FiniteTensorCheck.check(runningBaseline: meta.runningBaseline)
        checkpoint = walked.decoded(snapshot: meta.scalarSnapshot, fileBytes: bytes.count)
        try CheckpointReader.checkFileName(resolved, step: meta.step)
        headerPrefix = Array(bytes.prefix(CheckpointDecoder.headerPrefixLength(bytes)))
        self.path = resolved
        self.file = file
        self.meta = meta
        verifySeconds = Date().timeIntervalSince(t0)
    }

    /// Verification throughput in MB/s (10⁶ bytes).
    public var megabytesPerSecond: Double { verifySeconds > 0 ? Double(file.count) / 1e6 / verifySeconds : 0 }

    /// Walks the file again, calling `visit(tensor index, float offset in the tensor, values)`
    /// for every chunk in file order, each chunk re-checked against its CRC32C (the file was
    /// verified, but it could have been changed since: any difference throws).
    public func forEachChunk(_ visit: (Int, Int, UnsafeBufferPointer<Float>) throws -> Void) throws {
        file.rewind()
        let bytes = file.bytes
        let walked = try CheckpointDecoder.walk(bytes, header: { _ in }, chunk: { _, ti, offset, data in
            try visit(ti, offset / 4, data.bindMemory(to: Float.self))
        }, consumed: file.release(upTo:))
        guard walked.payloadCRC == checkpoint.payloadCRC32C else {
            throw CheckpointError.checksumMismatch(what: "\(path) (changed while it was read)", stored: checkpoint.payloadCRC32C,
                                                   computed: walked.payloadCRC)
        }
    }

    /// What `capg checkpoint inspect` shows beyond the header, in one more walk: the SHA-256
    /// of the parameter tensors' bytes in file order (the run's `param_fingerprint`) and the
    /// data tensors (small: a feature standardization). O(bytes), memory O(chunk + data).
    public func parameterFingerprintAndDataTensors() throws -> (fingerprint: String, dataTensors: [TrainerState.Buffer]) {
        var sha = SHA256()
        var data: [Int: [Float]] = [:]
        try forEachChunk { ti, _, values in
            let plan = meta.tensorPlan[ti]
            if plan.parameterOffset != nil { sha.update(UnsafeRawBufferPointer(values)) }
            if plan.isData { data[ti, default: []] += values }
        }
        let buffers = data.keys.sorted().map { TrainerState.Buffer(name: String(meta.tensors[$0].name.dropFirst(5)), values: data[$0]!) }
        return (sha.finalizeHex(), buffers)
    }

    /// The tensors as a stream for `TrainingRun.resumeTensors` (world rank 0's side).
    public var tensorStream: CheckpointTensorStream {
        CheckpointTensorStream(chunkFloats: checkpoint.chunkBytes / 4) { visit in try self.forEachChunk(visit) }
    }
}
