import CAPGTrain
import Foundation

/// Where `capg train --resume` looks: `auto` (the newest valid checkpoint of the run's
/// checkpoint directory, or a fresh start if it has none) or an explicit path (a file, a
/// `latest` pointer or a directory, which must hold a valid, compatible checkpoint).
public enum ResumeSpec: Equatable, Sendable {
    case auto
    case path(String)

    public init(_ text: String) { self = text == "auto" ? .auto : .path(text) }
}

/// The outcome of a resume on every rank.
public struct ResumeResult {
    /// The state to continue from; nil for a fresh start (`auto` with no checkpoint).
    public var snapshot: TrainingSnapshot?
    /// Rank 0 only: the file, the newer files skipped and why, throughput.
    public var path: String?
    public var skipped: [String] = []
    public var bytes = 0
    public var megabytesPerSecond = 0.0
    /// Item-sharded resume: the tensors, streamed from rank 0 (`snapshot.state` then has the
    /// scalars only). Nil for a resume that hands every rank the whole state.
    public var tensors: CheckpointTensorStream?
}

/// Resume across ranks: rank 0 alone reads and verifies the checkpoint (only it needs to
/// see the file system). Data-parallel (`item_shards` = 1): it broadcasts the verified
/// bytes; every other rank decodes and verifies them again, so all ranks start from bitwise
/// the same state. Item-sharded: rank 0 verifies the file without reading it into memory
/// (`VerifiedCheckpointFile`) and broadcasts only the header; the tensors then stream to
/// the ranks that own them (`ShardedTrainer.restore(_:streamed:)`), so no rank ever holds
/// the whole model. All ranks call it. If rank 0 fails, every rank throws (rank 0 with the
/// cause), so no rank waits in a collective that will never come.
public enum ResumeLoader {
    /// Status word broadcast first: what follows.
    private enum Status: UInt8 { case failed = 0, fresh = 1, payload = 2 }
    /// Largest piece per broadcast (MPI counts are 32-bit).
    static let pieceBytes = 1 << 30

    public static func load(_ spec: ResumeSpec, checkpointDirectory: String, config: TrainingConfig,
                            communicator: any Communicator) throws -> ResumeResult {
        if config.itemShards > 1 {
            return try loadStreamed(spec, checkpointDirectory: checkpointDirectory, config: config, communicator: communicator)
        }
        var result = ResumeResult()
        var header = [UInt8](repeating: 0, count: 9)
        var payload: [UInt8] = []
        var rootError: Error?
        if communicator.isRoot {
            do {
                let found = try find(spec, checkpointDirectory: checkpointDirectory, config: config,
                                     newest: CheckpointReader.newestValid, open: CheckpointReader.load, checkpoint: \.checkpoint)
                let loaded = found?.opened
                result.skipped = found?.skipped ?? []
                if let loaded {
                    header[0] = Status.payload.rawValue
                    withUnsafeBytes(of: UInt64(loaded.bytes.count).littleEndian) { for i in 0..<8 { header[1 + i] = $0[i] } }
                    payload = loaded.bytes
                    result.snapshot = loaded.checkpoint.snapshot
                    result.path = loaded.path
                    result.bytes = loaded.bytes.count
                    result.megabytesPerSecond = loaded.megabytesPerSecond
                } else {
                    header[0] = Status.fresh.rawValue
                }
            } catch {
                header[0] = Status.failed.rawValue
                rootError = error
            }
        }
        communicator.broadcast(&header, root: 0)
        switch Status(rawValue: header[0]) {
        case .failed?:
            throw rootError ?? CheckpointError.unreadable(path: checkpointDirectory, reason: "rank 0 could not load the checkpoint (its message names the cause)")
        case .fresh?:
            return result
        case .payload?:
            break
        case nil:
            throw CheckpointError.malformed("unknown resume status \(header[0]) from rank 0")
        }
        let total = Int(header[1...].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        if !communicator.isRoot { payload = [UInt8](repeating: 0, count: total) }
        if total <= pieceBytes {
            communicator.broadcast(&payload, root: 0)
        } else {
            var start = 0
            repeat {
                let end = min(total, start + pieceBytes)
                var piece = communicator.isRoot ? Array(payload[start..<end]) : []
                communicator.broadcast(&piece, root: 0)
                if !communicator.isRoot { payload.replaceSubrange(start..<end, with: piece) }
                start = end
            } while start < total
        }
        if !communicator.isRoot {
            let decoded = try CheckpointDecoder.decode(payload)
            try decoded.checkCompatible(with: config)
            result.snapshot = decoded.snapshot
        }
        return result
    }

    /// The checkpoint `spec` names for `config`, opened by `open` (or by `newest` for a
    /// directory), with the newer files skipped; nil for `auto` with no checkpoint.
    static func find<Opened>(_ spec: ResumeSpec, checkpointDirectory: String, config: TrainingConfig,
                             newest: (String, TrainingConfig?) throws -> (Opened, [String])?,
                             open: (String) throws -> Opened, checkpoint: (Opened) -> DecodedCheckpoint) throws
        -> (opened: Opened, skipped: [String])? {
        switch spec {
        case .auto:
            return try newest(checkpointDirectory, config).map { ($0.0, $0.1) }
        case .path(let p):
            var isDir: ObjCBool = false
            if FileManager.default.fileExists(atPath: p, isDirectory: &isDir), isDir.boolValue {
                guard let found = try newest(p, config) else {
                    throw CheckpointError.unreadable(path: p, reason: "the directory holds no ckpt-*.capgckpt file")
                }
                return (found.0, found.1)
            }
            let opened = try open(p)
            try checkpoint(opened).checkCompatible(with: config)
            return (opened, [])
        }
    }

    /// The item-sharded resume: rank 0 verifies the file (mapped, O(chunk) memory) and
    /// broadcasts status, file size and the header frame; every rank checks the header
    /// against the run; the tensors follow as a `CheckpointTensorStream`.
    static func loadStreamed(_ spec: ResumeSpec, checkpointDirectory: String, config: TrainingConfig,
                             communicator: any Communicator) throws -> ResumeResult {
        var result = ResumeResult()
        var message = [Status.failed.rawValue]
        var rootError: Error?
        var file: VerifiedCheckpointFile?
        if communicator.isRoot {
            do {
                let found = try find(spec, checkpointDirectory: checkpointDirectory, config: config,
                                     newest: CheckpointReader.newestVerified, open: VerifiedCheckpointFile.init(path:),
                                     checkpoint: \.checkpoint)
                result.skipped = found?.skipped ?? []
                file = found?.opened
                if let f = file {
                    message = [Status.payload.rawValue]
                    withUnsafeBytes(of: UInt64(f.checkpoint.fileBytes).littleEndian) { message += $0 }
                    message += f.headerPrefix
                    result.path = f.path
                    result.bytes = f.checkpoint.fileBytes
                    result.megabytesPerSecond = f.megabytesPerSecond
                } else {
                    message = [Status.fresh.rawValue]
                }
            } catch {
                rootError = error
            }
        }
        communicator.broadcast(&message, root: 0)
        switch message.first.flatMap(Status.init(rawValue:)) {
        case .failed?:
            throw rootError ?? CheckpointError.unreadable(path: checkpointDirectory, reason: "rank 0 could not load the checkpoint (its message names the cause)")
        case .fresh?:
            return result
        case .payload?:
            guard message.count > 9 else { throw CheckpointError.malformed("a resume header of \(message.count) bytes from rank 0") }
        case nil:
            throw CheckpointError.malformed("unknown resume status \(message.first ?? 0) from rank 0")
        }
        let fileBytes = Int(message[1...8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
        let meta = try message[9...].withUnsafeBytes { try CheckpointDecoder.header(prefix: $0, fileBytes: fileBytes) }
        let decoded = CheckpointDecoder.Walked(meta: meta, frames: 0, payloadCRC: 0).decoded(snapshot: meta.scalarSnapshot,
                                                                                             fileBytes: fileBytes)
        try decoded.checkCompatible(with: config)
        result.snapshot = decoded.snapshot
        result.tensors = file?.tensorStream ?? CheckpointTensorStream(chunkFloats: meta.chunkBytes / 4, forEachChunk: nil)
        return result
    }
}
