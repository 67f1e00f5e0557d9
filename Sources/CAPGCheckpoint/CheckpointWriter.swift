import CAPGTrain
import Foundation

/// Rank 0's checkpoint writer: one file per checkpoint, `ckpt-<step>.capgckpt`, in a
/// directory, written atomically (`POSIXFile.writeAtomically`: temp file, fsync, rename,
/// fsync of the directory); then the `latest` pointer is replaced the same way, and only
/// then are checkpoints beyond the newest `keep` deleted. A crash or `kill -9` at any
/// instant leaves every previously completed checkpoint intact and `latest` naming a
/// complete one.
public final class CheckpointWriter: CheckpointSink {
    public let directory: String
    public let keep: Int
    public var encoder: CheckpointEncoder
    /// Notices (e.g. superseded checkpoints set aside) go here; stderr by default.
    public var log: (String) -> Void = { FileHandle.standardError.write(Data(("capg: " + $0 + "\n").utf8)) }

    /// `removeTemporaryFiles`: delete the temp files of writers killed mid-write (only one
    /// writer per directory should: the other ranks of a parallel write pass false).
    public init(directory: String, keep: Int, encoder: CheckpointEncoder = CheckpointEncoder(),
                removeTemporaryFiles: Bool = true) throws {
        self.directory = directory; self.keep = max(1, keep); self.encoder = encoder
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        } catch {
            throw CheckpointError.writeFailed(path: directory, reason: "cannot create the checkpoint directory: \(error.localizedDescription)")
        }
        // Temp files of writers that were killed mid-write are garbage.
        guard removeTemporaryFiles else { return }
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] where name.hasPrefix(".") && name.contains(".tmp-") {
            unlink(directory + "/" + name)
        }
    }

    public func write(_ snapshot: TrainingSnapshot) throws -> CheckpointWriteReport {
        try write(step: snapshot.state.step) { encoder, sink in try encoder.encode(snapshot, to: sink) }
    }

    public func write(_ snapshot: TrainingSnapshot, streamed: [StreamedTensor]) throws -> CheckpointWriteReport {
        try write(step: snapshot.state.step) { encoder, sink in try encoder.encode(snapshot, streamed: streamed, to: sink) }
    }

    /// The checkpoint of `step`, its bytes produced by `encode`, then `latest` and pruning.
    private func write(step: Int, encode: (CheckpointEncoder, @escaping (UnsafeRawBufferPointer) throws -> Void) throws -> Int)
        throws -> CheckpointWriteReport
    {
        let start = Date()
        let name = CheckpointFormat.fileName(step: step)
        let path = directory + "/" + name
        var encoder = self.encoder
        encoder.createdUnixMs = Int64(start.timeIntervalSince1970 * 1000)
        let bytes = try POSIXFile.writeAtomically(path) { sink in
            try withoutActuallyEscaping(sink) { sink in _ = try encode(encoder, sink) }
        }
        try pointLatest(to: name, step: step)
        return CheckpointWriteReport(path: path, bytes: bytes, seconds: Date().timeIntervalSince(start))
    }

    /// After the checkpoint `name` of `step` is durable: `latest` names it, then pruning.
    func pointLatest(to name: String, step: Int) throws {
        let pointer = Array((name + "\n").utf8)
        _ = try POSIXFile.writeAtomically(directory + "/" + CheckpointFormat.latestPointer) { sink in
            try pointer.withUnsafeBytes { try sink($0) }
        }
        try prune(after: step)
    }

    /// Keeps the newest `keep` checkpoints up to `step`. Checkpoints of later steps belong
    /// to a timeline this run abandoned (it resumed from an older one); they are renamed
    /// to `*.superseded` (not deleted: the user chose to resume elsewhere, maybe by mistake).
    private func prune(after step: Int) throws {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var kept: [(Int, String)] = []
        for name in names {
            guard let s = CheckpointFormat.step(fromFileName: name) else { continue }
            if s > step {
                try POSIXFile.rename(directory + "/" + name, directory + "/" + name + ".superseded")
                log("set aside \(name) (step \(s) > \(step), from before the resume) as \(name).superseded")
            } else {
                kept.append((s, name))
            }
        }
        kept.sort { $0.0 > $1.0 }
        for (_, name) in kept.dropFirst(keep) { unlink(directory + "/" + name) }
        try POSIXFile.syncDirectory(directory)
    }
}
