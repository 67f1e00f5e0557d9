import CAPGTrain
import Foundation

/// A checkpoint read from disk and fully verified, with the time it took.
public struct LoadedCheckpoint: Sendable {
    public var path: String
    public var bytes: [UInt8]
    public var checkpoint: DecodedCheckpoint
    public var readSeconds: Double
    public var verifySeconds: Double
    /// Read + verify throughput in MB/s (10⁶ bytes).
    public var megabytesPerSecond: Double {
        let t = readSeconds + verifySeconds
        return t > 0 ? Double(bytes.count) / 1e6 / t : 0
    }
}

/// Finds and reads checkpoints: a path may name a checkpoint file, a `latest` pointer, or
/// a checkpoint directory (meaning the checkpoint its `latest` names).
public enum CheckpointReader {
    /// The checkpoint file a user-given path stands for.
    public static func resolve(_ path: String) throws -> String {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw CheckpointError.unreadable(path: path, reason: "no such file or directory")
        }
        if isDir.boolValue { return try follow(pointer: path + "/" + CheckpointFormat.latestPointer) }
        if URL(fileURLWithPath: path).lastPathComponent == CheckpointFormat.latestPointer { return try follow(pointer: path) }
        return path
    }

    /// The file a `latest` pointer names (a file name in the pointer's directory).
    static func follow(pointer: String) throws -> String {
        let bytes = try POSIXFile.readAll(pointer)
        let name = String(decoding: bytes, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard CheckpointFormat.step(fromFileName: name) != nil else {
            throw CheckpointError.notACheckpoint("\(pointer) should name a ckpt-<step>.capgckpt file, it holds \(bytes.count) byte(s)")
        }
        return URL(fileURLWithPath: pointer).deletingLastPathComponent().path + "/" + name
    }

    /// Reads and verifies the checkpoint at `path` (resolved as above).
    public static func load(_ path: String) throws -> LoadedCheckpoint {
        let file = try resolve(path)
        let t0 = Date()
        let bytes = try POSIXFile.readAll(file)
        let t1 = Date()
        let decoded = try CheckpointDecoder.decode(bytes)
        try checkFileName(file, step: decoded.snapshot.state.step)
        return LoadedCheckpoint(path: file, bytes: bytes, checkpoint: decoded,
                                readSeconds: t1.timeIntervalSince(t0), verifySeconds: Date().timeIntervalSince(t1))
    }

    /// A CRC cannot see a renamed copy: the step in a checkpoint file's name must be its
    /// header's (names that are not `ckpt-<step>.capgckpt` pass).
    static func checkFileName(_ file: String, step: Int) throws {
        let name = URL(fileURLWithPath: file).lastPathComponent
        if let nameStep = CheckpointFormat.step(fromFileName: name), nameStep != step {
            throw CheckpointError.fileNameStepMismatch(path: file, nameStep: nameStep, headerStep: step)
        }
    }

    /// Checkpoint files of a directory, newest step first.
    public static func candidates(in directory: String) -> [(step: Int, path: String)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.compactMap { n in CheckpointFormat.step(fromFileName: n).map { ($0, directory + "/" + n) } }
            .sorted { $0.step > $1.step }
    }

    /// `--resume auto`: the newest checkpoint of `directory` that verifies, plus every
    /// newer one skipped and why. Newest means the highest step *in the header*: files are
    /// tried in name order, but `load` refuses a file whose name's step differs from its
    /// header's (reported in `skipped`), so among the files it accepts name order is header
    /// order, and a renamed copy (ckpt-9000000000 holding step 10) is never taken as newest. Nil when the directory holds no checkpoint; throws
    /// `.noValidCheckpoint` when it holds some but none verifies, and the compatibility
    /// error when the newest valid one does not fit the run config `run`.
    public static func newestValid(in directory: String, compatibleWith run: TrainingConfig?) throws
        -> (loaded: LoadedCheckpoint, skipped: [String])? {
        try newest(in: directory, compatibleWith: run, open: load, checkpoint: \.checkpoint)
    }

    /// `newestValid` for a run that streams the tensors (the item-sharded resume): the newest
    /// checkpoint that verifies as a `VerifiedCheckpointFile`, never read into memory.
    public static func newestVerified(in directory: String, compatibleWith run: TrainingConfig?) throws
        -> (file: VerifiedCheckpointFile, skipped: [String])? {
        try newest(in: directory, compatibleWith: run, open: VerifiedCheckpointFile.init(path:), checkpoint: \.checkpoint)
    }

    /// The search behind both: `open` each candidate, newest first, until one succeeds.
    static func newest<Opened>(in directory: String, compatibleWith run: TrainingConfig?, open: (String) throws -> Opened,
                               checkpoint: (Opened) -> DecodedCheckpoint) throws -> (Opened, [String])? {
        let found = candidates(in: directory)
        if found.isEmpty { return nil }
        var skipped: [String] = []
        for c in found {
            let opened: Opened
            do {
                opened = try open(c.path)
            } catch {
                skipped.append("\(URL(fileURLWithPath: c.path).lastPathComponent): \(error)")
                continue
            }
            // A checkpoint that verifies but does not fit the run is the run's problem (a
            // changed config), not the file's: older checkpoints would not fit either.
            if let run { try checkpoint(opened).checkCompatible(with: run) }
            return (opened, skipped)
        }
        throw CheckpointError.noValidCheckpoint(directory: directory, skipped: skipped)
    }
}
