/// Why a checkpoint cannot be read, written or used. Every failure of the reader is one of
/// these (never a crash, never a partial load), and each message says what to do.
public enum CheckpointError: Error, CustomStringConvertible, Equatable {
    /// The file does not exist or cannot be read.
    case unreadable(path: String, reason: String)
    /// The bytes are not a capg checkpoint at all (empty, too short, other content).
    case notACheckpoint(String)
    /// A capg-like container with another magic (e.g. a future container version).
    case wrongMagic(found: String)
    /// Written by a newer capg with a schema this reader does not know.
    case newerSchema(found: Int, supported: Int)
    /// The file ends early (a write that did not finish, or a cut copy).
    case truncated(String)
    /// A checksum does not match: the bytes were damaged after writing.
    case checksumMismatch(what: String, stored: UInt32, computed: UInt32)
    /// The bytes pass the checksums but do not form a valid checkpoint (wrong frame order,
    /// missing fields, inconsistent sizes, unparsable message).
    case malformed(String)
    /// Bytes after the trailer.
    case trailingData(bytes: Int)
    /// The checkpoint belongs to a run with another trajectory-defining config.
    case incompatibleConfig([String])
    /// A tensor's shape or size does not match what the config requires.
    case tensorShapeMismatch(name: String, expected: [Int], found: [Int])
    /// `--resume auto` found checkpoints, but none verified.
    case noValidCheckpoint(directory: String, skipped: [String])
    /// A write failed (disk full, permissions, ...).
    case writeFailed(path: String, reason: String)
    /// A tensor holds NaN or ±infinity: checksums only prove the bytes are as written, so
    /// this is a diverged state that was saved, or a forged file.
    case nonFiniteValue(tensor: String, index: Int, value: Float)
    /// The step in a `ckpt-<step>.capgckpt` name differs from the step in its header (a
    /// renamed copy): `--resume auto` ranks by the header and does not use such a file.
    case fileNameStepMismatch(path: String, nameStep: Int, headerStep: Int)

    public var description: String {
        switch self {
        case .unreadable(let p, let r):
            return "cannot read checkpoint \(p): \(r)"
        case .notACheckpoint(let m):
            return "not a capg checkpoint: \(m)"
        case .wrongMagic(let f):
            return "wrong magic \(f) (expected \"CAPGCKP1\"): a different container version or another program's file"
        case .newerSchema(let f, let s):
            return "checkpoint schema version \(f) is newer than this capg supports (\(s)); resume with a newer capg"
        case .truncated(let m):
            return "truncated checkpoint: \(m); the write did not finish or the copy was cut. Use an older checkpoint (--resume auto picks the newest valid one)"
        case .checksumMismatch(let w, let s, let c):
            return "checksum mismatch in \(w): stored CRC32C \(hex(s)), computed \(hex(c)); the file is damaged, use another checkpoint"
        case .malformed(let m):
            return "malformed checkpoint: \(m)"
        case .trailingData(let n):
            return "\(n) unexpected byte(s) after the trailer: the file was appended to or damaged"
        case .incompatibleConfig(let diffs):
            return "checkpoint config is incompatible with this run: \(diffs.joined(separator: "; ")). Resume with the checkpoint's settings (only steps, evaluation, logging and checkpoint cadence may change) or start a fresh run directory"
        case .tensorShapeMismatch(let n, let e, let f):
            return "tensor \(n) has shape \(f), expected \(e) from the config"
        case .noValidCheckpoint(let d, let skipped):
            return "no checkpoint in \(d) verifies: \(skipped.joined(separator: "; ")). Remove the damaged files to start over, or resume from a copy"
        case .writeFailed(let p, let r):
            return "cannot write checkpoint \(p): \(r); check free space and permissions"
        case .nonFiniteValue(let t, let i, let v):
            return "tensor \(t) holds \(v) at index \(i): the checksums match, so the state was already non-finite when written (or the file was forged); resume from an older checkpoint"
        case .fileNameStepMismatch(let p, let n, let h):
            return "\(p) is named for step \(n) but its header holds step \(h) (a renamed copy?); rename it to \(CheckpointFormat.fileName(step: h)) to use it"
        }
    }
}

private func hex(_ v: UInt32) -> String {
    let s = String(v, radix: 16)
    return "0x" + String(repeating: "0", count: 8 - s.count) + s
}
