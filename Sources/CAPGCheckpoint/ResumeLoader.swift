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
public struct ResumeResult: Sendable {
    /// The state to continue from; nil for a fresh start (`auto` with no checkpoint).
    public var snapshot: TrainingSnapshot?
    /// Rank 0 only: the file, the newer files skipped and why, throughput.
    public var path: String?
    public var skipped: [String] = []
    public var bytes = 0
    public var megabytesPerSecond = 0.0
}

/// Resume across ranks: rank 0 alone reads and verifies the checkpoint (only it needs to
/// see the file system), then broadcasts the verified bytes; every other rank decodes and
/// verifies them again, so all ranks start from bitwise the same state. All ranks call it.
/// If rank 0 fails, every rank throws (rank 0 with the cause), so no rank waits in a
/// collective that will never come.
public enum ResumeLoader {
    /// Status word broadcast first: what follows.
    private enum Status: UInt8 { case failed = 0, fresh = 1, payload = 2 }
    /// Largest piece per broadcast (MPI counts are 32-bit).
    static let pieceBytes = 1 << 30

    public static func load(_ spec: ResumeSpec, checkpointDirectory: String, config: TrainingConfig,
                            communicator: any Communicator) throws -> ResumeResult {
        var result = ResumeResult()
        var header = [UInt8](repeating: 0, count: 9)
        var payload: [UInt8] = []
        var rootError: Error?
        if communicator.isRoot {
            do {
                let loaded: LoadedCheckpoint?
                switch spec {
                case .auto:
                    let found = try CheckpointReader.newestValid(in: checkpointDirectory, compatibleWith: config)
                    loaded = found?.loaded
                    result.skipped = found?.skipped ?? []
                case .path(let p):
                    var isDir: ObjCBool = false
                    if FileManager.default.fileExists(atPath: p, isDirectory: &isDir), isDir.boolValue {
                        let found = try CheckpointReader.newestValid(in: p, compatibleWith: config)
                        guard let found else { throw CheckpointError.unreadable(path: p, reason: "the directory holds no ckpt-*.capgckpt file") }
                        loaded = found.loaded
                        result.skipped = found.skipped
                    } else {
                        let l = try CheckpointReader.load(p)
                        try l.checkpoint.checkCompatible(with: config)
                        loaded = l
                    }
                }
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
}
